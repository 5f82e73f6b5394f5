using System.Security.Cryptography;

namespace DTrust.KeyVault.Internal;

/// <summary>A signing key of a <see cref="SoftwareKeyDomain"/>: the PKCS#8 private key in process memory.</summary>
internal sealed class SoftwareSigningKey : ISigningKey
{
    private readonly byte[] _spki;
    private readonly byte[] _pkcs8;

    public SoftwareSigningKey(string domain, string label, KeyAlgorithm algorithm, byte[] spki, byte[] pkcs8)
    {
        Domain = domain;
        Label = label;
        Algorithm = algorithm;
        _spki = spki;
        _pkcs8 = pkcs8;
    }

    public string Label { get; }

    public string Domain { get; }

    public KeyAlgorithm Algorithm { get; }

    public byte[] SubjectPublicKeyInfo => (byte[])_spki.Clone();

    public AsymmetricAlgorithm CreateAlgorithm() => SoftwareKeyDomain.Import(Algorithm, (byte[])_pkcs8.Clone());

    public byte[] SignDigest(ReadOnlySpan<byte> digest, SignatureScheme scheme)
    {
        var copy = digest.ToArray();
        Schemes.Validate(Algorithm, scheme, [copy]);
        using var key = CreateAlgorithm();
        return SoftwareKeyDomain.Sign(key, copy, scheme);
    }

    public ValueTask<byte[]> SignDigestAsync(ReadOnlyMemory<byte> digest, SignatureScheme scheme, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return ValueTask.FromResult(SignDigest(digest.Span, scheme));
    }
}
