using System.Security.Cryptography;
using DTrust.KeyVault.Internal;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault;

/// <summary>
/// A long-lived signing key (CA, TSA, root) held as a token object in its domain: private, sensitive,
/// non-extractable. The handle is looked up once and cached.
/// </summary>
public sealed class HsmSigningKey
{
    private readonly KeyDomain _domain;
    private readonly byte[] _spki;

    internal HsmSigningKey(KeyDomain domain, string label, ulong handle, KeyAlgorithm algorithm, byte[] spki)
    {
        _domain = domain;
        Label = label;
        Handle = handle;
        Algorithm = algorithm;
        _spki = spki;
    }

    public string Label { get; }

    public string Domain => _domain.Name;

    public KeyAlgorithm Algorithm { get; }

    /// <summary>DER SubjectPublicKeyInfo (a copy).</summary>
    public byte[] SubjectPublicKeyInfo => (byte[])_spki.Clone();

    internal ulong Handle { get; }

    /// <summary>
    /// An <see cref="ECDsa"/> or <see cref="RSA"/> whose signing calls the HSM, for CmsSigner, CertificateRequest and
    /// CertificateRevocationListBuilder. Each call returns a new instance; dispose it after use.
    /// </summary>
    public AsymmetricAlgorithm CreateAlgorithm() =>
        Algorithms.IsEc(Algorithm) ? new HsmEcdsa(this) : new HsmRsa(this);

    /// <summary>Signs one digest with a scheme, for callers that build their own structures (e.g. the TSA).</summary>
    public byte[] SignDigest(ReadOnlySpan<byte> digest, SignatureScheme scheme)
    {
        var copy = digest.ToArray();
        Schemes.Validate(Algorithm, scheme, [copy]);
        var input = Schemes.IsEcdsa(scheme) || Schemes.IsPss(scheme) ? copy : Schemes.DigestInfo(Schemes.Hash(scheme), copy);
        var signature = SignRaw(Schemes.Mechanism(scheme), input);
        return Schemes.IsDer(scheme) ? Schemes.P1363ToDer(signature) : signature;
    }

    internal byte[] SignRaw(in Mechanism mechanism, byte[] input) =>
        _domain.SignWithTokenKey(Handle, Algorithm, mechanism, input);
}
