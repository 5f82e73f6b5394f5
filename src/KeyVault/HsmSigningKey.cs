using System.Security.Cryptography;
using DTrust.KeyVault.Internal;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault;

/// <summary>
/// A long-lived signing key (CA, TSA, root) held as a token object in its domain: private, sensitive,
/// non-extractable. The handle is looked up once and cached; after a device fault or an invalid handle it is looked
/// up again by label (and must still be the same key), so a re-inserted token needs no restart.
/// </summary>
public sealed class HsmSigningKey : ISigningKey
{
    private readonly KeyDomain _domain;
    private readonly byte[] _spki;
    private volatile CachedHandle _handle;

    internal HsmSigningKey(KeyDomain domain, string label, ulong handle, int generation, KeyAlgorithm algorithm, byte[] spki)
    {
        _domain = domain;
        Label = label;
        _handle = new CachedHandle(handle, generation);
        Algorithm = algorithm;
        _spki = spki;
    }

    public string Label { get; }

    public string Domain => _domain.Name;

    public KeyAlgorithm Algorithm { get; }

    /// <summary>DER SubjectPublicKeyInfo (a copy).</summary>
    public byte[] SubjectPublicKeyInfo => (byte[])_spki.Clone();

    /// <summary>The handle as last looked up (tests and benchmarks); signing goes through <see cref="CurrentHandle"/>.</summary>
    internal ulong Handle => _handle.Handle;

    internal ReadOnlySpan<byte> SubjectPublicKeyInfoSpan => _spki;

    /// <summary>
    /// An <see cref="ECDsa"/> or <see cref="RSA"/> whose signing calls the HSM, for CmsSigner, CertificateRequest and
    /// CertificateRevocationListBuilder. Each call returns a new instance; dispose it after use. Its calls wait for a
    /// session synchronously; code on a request path should prefer <see cref="SignDigestAsync"/>.
    /// </summary>
    public AsymmetricAlgorithm CreateAlgorithm() =>
        Algorithms.IsEc(Algorithm) ? new HsmEcdsa(this) : new HsmRsa(this);

    /// <summary>Signs one digest with a scheme, for callers that build their own structures (e.g. the TSA).</summary>
    public byte[] SignDigest(ReadOnlySpan<byte> digest, SignatureScheme scheme)
    {
        var input = Prepare(digest, scheme);
        var signature = _domain.SignWithTokenKey(this, Schemes.Mechanism(scheme), input);
        return Schemes.IsDer(scheme) ? Schemes.P1363ToDer(signature) : signature;
    }

    /// <summary>
    /// As <see cref="SignDigest"/>, but waits for a session of the domain's pool asynchronously: no thread blocks
    /// while every session is busy. The HSM call itself runs on the caller's thread once a session is free.
    /// </summary>
    public async ValueTask<byte[]> SignDigestAsync(ReadOnlyMemory<byte> digest, SignatureScheme scheme, CancellationToken ct)
    {
        var input = Prepare(digest.Span, scheme);
        var signature = await _domain.SignWithTokenKeyAsync(this, Schemes.Mechanism(scheme), input, ct).ConfigureAwait(false);
        return Schemes.IsDer(scheme) ? Schemes.P1363ToDer(signature) : signature;
    }

    internal byte[] SignRaw(in Mechanism mechanism, byte[] input) => _domain.SignWithTokenKey(this, mechanism, input);

    /// <summary>The cached handle, or the key looked up again if the domain dropped its handles since.</summary>
    internal ulong CurrentHandle(ulong session)
    {
        var cached = _handle;
        var generation = _domain.HandleGeneration;
        if (cached.Generation == generation)
        {
            return cached.Handle;
        }

        var handle = _domain.RefindSigningKey(session, this);
        _handle = new CachedHandle(handle, generation);
        return handle;
    }

    private byte[] Prepare(ReadOnlySpan<byte> digest, SignatureScheme scheme)
    {
        var copy = digest.ToArray();
        Schemes.Validate(Algorithm, scheme, [copy]);
        return Schemes.IsEcdsa(scheme) || Schemes.IsPss(scheme) ? copy : Schemes.DigestInfo(Schemes.Hash(scheme), copy);
    }

    private sealed record CachedHandle(ulong Handle, int Generation);
}
