using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Cms;
using DTrust.SigningServer.Signing;
using DTrust.Tsa;

namespace DTrust.Cms.Tests;

/// <summary>The signer keys of the tests: one per scheme, each with what plays the HSM.</summary>
public enum SignerCase
{
    EcdsaP256Sha256,
    EcdsaP384Sha384,
    Rsa2048Pkcs1Sha256,
    Rsa2048PssSha256,
    Rsa3072PssSha512,
}

/// <summary>
/// A software PKI written as PEM for openssl and PKI.js: root → issuing CA → end-entity signers, and a separate TSA
/// root with an ECDSA TSA (openssl 3.0's ts -verify only knows PKCS#1 v1.5 for RSA). The end-entity certificates
/// are public only; the key stays apart and signs digests, as the HSM does.
/// </summary>
internal sealed class TestPki : IDisposable
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UtcNow;

    private TestPki(string dir)
    {
        Directory = dir;
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Root = SelfSignedCa("CN=DTrust CMS Test Root, O=DTrust", rootKey);
        IssuingCa = Issue(Ca("CN=DTrust CMS Test Qualified CA, O=DTrust", caKey), Root, rootKey, years: 4);
        using var caWithKey = IssuingCa.CopyWithPrivateKey(caKey);

        using var tsaRootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        TsaRoot = SelfSignedCa("CN=DTrust CMS Test TSA Root, O=DTrust", tsaRootKey);
        TsaKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var tsaRequest = new CertificateRequest("CN=DTrust CMS Test TSA, O=DTrust, C=DE", TsaKey, HashAlgorithmName.SHA256);
        TsaCertificateProfile.AddExtensions(tsaRequest);
        TsaCertificate = Issue(tsaRequest, TsaRoot, tsaRootKey, years: 2);

        foreach (var signerCase in Enum.GetValues<SignerCase>())
        {
            Signers[signerCase] = CreateSigner(signerCase, caWithKey, caKey);
        }

        WritePem(RootPem, Root);
        WritePem(IssuingCaPem, IssuingCa);
        WritePem(TsaRootPem, TsaRoot);
        WritePem(TsaPem, TsaCertificate);
    }

    public string Directory { get; }

    public X509Certificate2 Root { get; }

    public X509Certificate2 IssuingCa { get; }

    public X509Certificate2 TsaRoot { get; }

    public X509Certificate2 TsaCertificate { get; }

    public ECDsa TsaKey { get; }

    public Dictionary<SignerCase, TestSigner> Signers { get; } = [];

    public string RootPem => File("root.pem");

    public string IssuingCaPem => File("ca.pem");

    public string TsaRootPem => File("tsa-root.pem");

    public string TsaPem => File("tsa.pem");

    public static TestPki Create() => new(System.IO.Directory.CreateTempSubdirectory("dtrust-cms-").FullName);

    public string File(string name) => Path.Combine(Directory, name);

    public TimeStampAuthority Tsa() =>
        new(new TsaOptions(), new TsaSigner(TsaCertificate, TsaKey, [TsaRoot]), TimeProvider.System,
            AlwaysSynchronizedClock.Instance);

    public void Dispose()
    {
        foreach (var signer in Signers.Values)
        {
            signer.Dispose();
        }

        TsaKey.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }

    private static void WritePem(string path, X509Certificate2 certificate) =>
        System.IO.File.WriteAllText(path, certificate.ExportCertificatePem());

    private static TestSigner CreateSigner(SignerCase signerCase, X509Certificate2 ca, ECDsa caKey)
    {
        AsymmetricAlgorithm key = signerCase switch
        {
            SignerCase.EcdsaP256Sha256 => ECDsa.Create(ECCurve.NamedCurves.nistP256),
            SignerCase.EcdsaP384Sha384 => ECDsa.Create(ECCurve.NamedCurves.nistP384),
            SignerCase.Rsa3072PssSha512 => RSA.Create(3072),
            _ => RSA.Create(2048),
        };
        var subject = $"CN=Erika Mustermann {signerCase}, C=DE";
        var request = key is ECDsa ec
            ? new CertificateRequest(subject, ec, HashAlgorithmName.SHA256)
            : new CertificateRequest(subject, (RSA)key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        // Qualified signature certificates carry nonRepudiation (contentCommitment) alone, critical; the others
        // an ordinary digitalSignature.
        var qualified = signerCase is SignerCase.EcdsaP256Sha256 or SignerCase.Rsa2048PssSha256;
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            qualified ? X509KeyUsageFlags.NonRepudiation : X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var certificate = Issue(request, ca, caKey, years: 2);

        var (hash, scheme) = signerCase switch
        {
            SignerCase.EcdsaP256Sha256 => (HashAlgorithmName.SHA256, CmsSignatureScheme.Ecdsa),
            SignerCase.EcdsaP384Sha384 => (HashAlgorithmName.SHA384, CmsSignatureScheme.Ecdsa),
            SignerCase.Rsa2048Pkcs1Sha256 => (HashAlgorithmName.SHA256, CmsSignatureScheme.RsaPkcs1),
            SignerCase.Rsa2048PssSha256 => (HashAlgorithmName.SHA256, CmsSignatureScheme.RsaPss),
            _ => (HashAlgorithmName.SHA512, CmsSignatureScheme.RsaPss),
        };
        return new TestSigner(certificate, key, hash, scheme, qualified);
    }

    private static CertificateRequest Ca(string subject, ECDsa key)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request;
    }

    private static X509Certificate2 SelfSignedCa(string subject, ECDsa key)
    {
        using var withKey = Ca(subject, key).CreateSelfSigned(Now.AddDays(-3), Now.AddYears(5));
        return X509CertificateLoader.LoadCertificate(withKey.RawData);
    }

    private static X509Certificate2 Issue(CertificateRequest request, X509Certificate2 issuer, ECDsa issuerKey, int years)
    {
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        // The generator overload lets an ECDSA CA certify an RSA key.
        return request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey),
            Now.AddDays(-2), Now.AddYears(years), serial);
    }
}

/// <summary>A signer certificate with its software key standing in for the HSM.</summary>
internal sealed class TestSigner(X509Certificate2 certificate, AsymmetricAlgorithm key, HashAlgorithmName hash,
    CmsSignatureScheme scheme, bool qualified) : IDisposable
{
    public X509Certificate2 Certificate { get; } = certificate;

    public HashAlgorithmName Hash { get; } = hash;

    public CmsSignatureScheme Scheme { get; } = scheme;

    public bool Qualified { get; } = qualified;

    /// <summary>What the HSM does: sign a digest. ECDSA comes back as r||s, as from PKCS#11 CKM_ECDSA.</summary>
    public byte[] SignDigest(ReadOnlySpan<byte> digest) => key switch
    {
        ECDsa ec => CadesBuilder.EcdsaSignatureToDer(
            ec.SignHash(digest.ToArray(), DSASignatureFormat.IeeeP1363FixedFieldConcatenation)),
        RSA rsa => rsa.SignHash(digest.ToArray(), Hash,
            Scheme == CmsSignatureScheme.RsaPss ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1),
        _ => throw new InvalidOperationException("unexpected key"),
    };

    public void Dispose()
    {
        key.Dispose();
        Certificate.Dispose();
    }
}
