using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using BenchmarkDotNet.Attributes;
using DTrust.Benchmarks.Tsa;
using DTrust.Cms;
using DTrust.KeyVault;
using DTrust.SigningServer.Signing;
using DTrust.Tsa;

namespace DTrust.Benchmarks.Cms;

/// <summary>
/// The CPU cost of the CAdES encoding that CMS_DETACHED adds to each signature, without the HSM: CadesBuilder
/// Prepare (signed attributes and their digest) + Complete (the SignedData) for one document hash, at B-B and at B-T
/// with a time-stamp token, beside one software SignHash of the same key in the same run (what the HSM's sign would
/// cost if it were as fast as the CPU). The signature value and the token are made once in setup with software keys
/// and a fixed signing time, so every iteration encodes the same valid message; setup checks one with SignedCms.
/// Allocated is per signature.
/// </summary>
[Config(typeof(BenchConfig))]
public class CadesBenchmarks
{
    private static readonly DateTimeOffset SigningTime = new(2026, 11, 26, 10, 30, 15, TimeSpan.Zero);

    private AsymmetricAlgorithm _key = null!;
    private CadesBuilder _builder = null!;
    private CmsSignatureScheme _scheme;
    private byte[] _documentHash = [];
    private byte[] _signatureValue = [];
    private byte[] _timestampToken = [];

    [Params(KeyAlgorithm.EcP256, KeyAlgorithm.Rsa2048)]
    public KeyAlgorithm Algorithm { get; set; }

    private static ReadOnlySpan<byte> Document => "loan agreement"u8;

    [GlobalSetup]
    public void Setup()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var now = DateTimeOffset.UtcNow;
        var caRequest = new CertificateRequest("CN=DTrust Benchmark Qualified CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var caWithKey = caRequest.CreateSelfSigned(now.AddDays(-1), now.AddYears(5));
        var ca = X509CertificateLoader.LoadCertificate(caWithKey.RawData);

        _key = Algorithm == KeyAlgorithm.EcP256 ? ECDsa.Create(ECCurve.NamedCurves.nistP256) : RSA.Create(2048);
        var subject = "CN=Erika Mustermann, C=DE";
        var request = _key is ECDsa ec
            ? new CertificateRequest(subject, ec, HashAlgorithmName.SHA256)
            : new CertificateRequest(subject, (RSA)_key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.NonRepudiation, critical: true));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var signer = request.Create(ca.SubjectName, X509SignatureGenerator.CreateForECDsa(caKey), now.AddDays(-1),
            now.AddYears(2), RandomNumberGenerator.GetBytes(16));

        _builder = new CadesBuilder(signer, [ca]);
        _scheme = _key is ECDsa ? CmsSignatureScheme.Ecdsa : CmsSignatureScheme.RsaPss;
        _documentHash = SHA256.HashData(Document);
        var prepared = _builder.Prepare(HashAlgorithmName.SHA256, _documentHash, CmsAttributeProfile.Cades, SigningTime);
        _signatureValue = SoftwareSign(prepared.DigestToSign.Span);

        // A software TSA stamps the signature value, as the flow's TSA does (signature-time-stamp, CAdES-B-T).
        using var tsaKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var tsaCertificate = BenchTsaPki.IssueTsaCertificate(new PublicKey(tsaKey));
        var tsa = new TimeStampAuthority(new TsaOptions(), new TsaSigner(tsaCertificate, tsaKey), TimeProvider.System);
        var stamped = tsa.Timestamp(HashAlgorithmName.SHA256,
            CadesBuilder.SignatureTimeStampImprint(HashAlgorithmName.SHA256, _signatureValue));
        _timestampToken = stamped.IsGranted ? stamped.Token.ToArray() : throw new InvalidOperationException(stamped.StatusText);

        // A benchmark of a broken message would measure nothing useful: check one B-T before timing.
        var cms = new SignedCms(new ContentInfo(Document.ToArray()), detached: true);
        cms.Decode(BuildTimestamped());
        cms.CheckSignature(verifySignatureOnly: true);
        if (cms.SignerInfos[0].UnsignedAttributes.Count != 1)
        {
            throw new InvalidOperationException("the B-T message carries no signature-time-stamp");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _key.Dispose();

    [Benchmark(Baseline = true, Description = "software SignHash (one signature, same key)")]
    public byte[] SoftwareSignature() => SoftwareSign(_documentHash);

    [Benchmark(Description = "CAdES-B-B Prepare + Complete")]
    public byte[] BaselineB() =>
        _builder.Complete(_builder.Prepare(HashAlgorithmName.SHA256, _documentHash, CmsAttributeProfile.Cades, SigningTime),
            _scheme, _signatureValue, default);

    [Benchmark(Description = "CAdES-B-T Prepare + Complete (token given)")]
    public byte[] BaselineT() => BuildTimestamped();

    private byte[] BuildTimestamped() =>
        _builder.Complete(_builder.Prepare(HashAlgorithmName.SHA256, _documentHash, CmsAttributeProfile.Cades, SigningTime),
            _scheme, _signatureValue, _timestampToken);

    private byte[] SoftwareSign(ReadOnlySpan<byte> digest) => _key switch
    {
        // DER, as CMS carries it (the HSM's r||s is converted by the flow; that conversion is in neither figure).
        ECDsa ec => ec.SignHash(digest, DSASignatureFormat.Rfc3279DerSequence),
        RSA rsa => rsa.SignHash(digest, HashAlgorithmName.SHA256, RSASignaturePadding.Pss),
        _ => throw new InvalidOperationException("unexpected key"),
    };
}
