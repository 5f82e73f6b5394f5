using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Tsa.Tests;

/// <summary>
/// A software root CA and a TSA certificate made with CertificateRequest, written as PEM for openssl. The TSA
/// certificate is public-only: the key travels separately, as it does with an HSM key.
/// </summary>
internal sealed class TestPki : IDisposable
{
    private TestPki(X509Certificate2 root, X509Certificate2 tsa, AsymmetricAlgorithm tsaKey, string dir)
    {
        Root = root;
        TsaCertificate = tsa;
        TsaKey = tsaKey;
        Directory = dir;
        System.IO.File.WriteAllText(RootPem, root.ExportCertificatePem());
        System.IO.File.WriteAllText(TsaPem, tsa.ExportCertificatePem());
    }

    public X509Certificate2 Root { get; }

    public X509Certificate2 TsaCertificate { get; }

    public AsymmetricAlgorithm TsaKey { get; }

    public string Directory { get; }

    public string RootPem => Path.Combine(Directory, "root.pem");

    public string TsaPem => Path.Combine(Directory, "tsa.pem");

    public static TestPki CreateEcdsa() => Create(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    public static TestPki CreateRsa() => Create(RSA.Create(3072));

    public TsaSigner Signer() => new(TsaCertificate, TsaKey, [Root]);

    public string File(string name) => Path.Combine(Directory, name);

    public void Dispose()
    {
        TsaKey.Dispose();
        Root.Dispose();
        TsaCertificate.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    private static TestPki Create(AsymmetricAlgorithm tsaKey)
    {
        var dir = System.IO.Directory.CreateTempSubdirectory("dtrust-tsa-").FullName;
        var now = DateTimeOffset.UtcNow;

        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootReq = new CertificateRequest("CN=DTrust Test Root, O=DTrust", rootKey, HashAlgorithmName.SHA256);
        rootReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootReq.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootReq.PublicKey, false));
        var root = rootReq.CreateSelfSigned(now.AddDays(-3), now.AddYears(5));

        var subject = "CN=DTrust Test TSA, O=DTrust, C=DE";
        var tsaReq = tsaKey switch
        {
            ECDsa ec => new CertificateRequest(subject, ec, HashAlgorithmName.SHA256),
            RSA rsa => new CertificateRequest(subject, rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pss),
            _ => throw new ArgumentException("unsupported key", nameof(tsaKey)),
        };
        TsaCertificateProfile.AddExtensions(tsaReq);
        tsaReq.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(root, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        // The generator overload lets an ECDSA root sign an RSA subject key.
        var tsa = tsaReq.Create(root.SubjectName, X509SignatureGenerator.CreateForECDsa(rootKey),
            now.AddDays(-2), now.AddYears(2), serial);

        // Keep only the public root: the test key must not leak into "trusted" material by accident.
        using var rootWithKey = root;
        return new TestPki(X509CertificateLoader.LoadCertificate(root.RawData), tsa, tsaKey, dir);
    }
}
