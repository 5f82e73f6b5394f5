using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.SigningServer.Credentials;
using DTrust.Store;
using Microsoft.Extensions.Caching.Memory;

namespace DTrust.SigningServer.Signing;

/// <summary>A credential's certificate parsed once: its public key for the self-check, and its CAdES builder.</summary>
public sealed class Signer
{
    private readonly Lazy<CadesBuilder> _cades;

    public Signer(byte[] certificate, IReadOnlyList<X509Certificate2> chain)
    {
        Certificate = X509CertificateLoader.LoadCertificate(certificate);
        PublicKey = (AsymmetricAlgorithm?)Certificate.GetECDsaPublicKey() ?? Certificate.GetRSAPublicKey()
            ?? throw new InvalidOperationException("the credential certificate holds neither an EC nor an RSA key");
        _cades = new Lazy<CadesBuilder>(() => new CadesBuilder(Certificate, chain));
    }

    public X509Certificate2 Certificate { get; }

    /// <summary>ECDsa or RSA; only used to verify, which OpenSSL allows from several threads at once.</summary>
    public AsymmetricAlgorithm PublicKey { get; }

    public CadesBuilder Cades => _cades.Value;
}

/// <summary>
/// Parsed certificates by credential. Parsing an X.509 certificate and importing its key costs about half a
/// millisecond with OpenSSL 3 here — more than the rest of the server's own work for one signature — and a
/// credential's certificate never changes, so each is parsed once (bounded, evicted when unused). An entry is only
/// used if its certificate is byte for byte the one the store returned.
/// </summary>
public sealed class SignerCache(ICertificateAuthority ca) : IDisposable
{
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = 10_000 });
    private readonly Dictionary<CredentialLevel, Lazy<X509Certificate2[]>> _chains = Enum.GetValues<CredentialLevel>().ToDictionary(
        level => level,
        level => new Lazy<X509Certificate2[]>(() => [.. ca.Chain(level).Select(X509CertificateLoader.LoadCertificate)]));

    public Signer For(CredentialRecord credential)
    {
        if (_cache.TryGetValue(credential.Id, out Signer? cached) && cached!.Certificate.RawDataMemory.Span.SequenceEqual(credential.Certificate))
        {
            return cached;
        }

        var signer = new Signer(credential.Certificate, _chains[credential.Level].Value);
        _cache.Set(credential.Id, signer, new MemoryCacheEntryOptions { Size = 1, SlidingExpiration = TimeSpan.FromMinutes(30) });
        return signer;
    }

    public void Dispose() => _cache.Dispose();
}
