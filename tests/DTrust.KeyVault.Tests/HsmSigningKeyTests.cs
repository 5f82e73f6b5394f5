using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Xunit;

namespace DTrust.KeyVault.Tests;

/// <summary>CA and TSA keys through .NET's own builders: CertificateRequest, CmsSigner, CRL builder.</summary>
public sealed class HsmSigningKeyTests
{
    [Theory]
    [InlineData("simple", "SHA256", false)]
    [InlineData("advanced", "SHA384", false)]
    [InlineData("qualified", "SHA256", false)]
    [InlineData("qualified", "SHA512", true)]
    [InlineData("tsa", "SHA384", true)]
    public void A_self_signed_certificate_made_with_the_hsm_key_verifies(string domain, string hash, bool pss)
    {
        var key = TestVault.Shared.Domain(domain).GetSigningKey(TestVault.SigningKeys[domain].Label);
        using var cert = SelfSigned(key, new HashAlgorithmName(hash), pss);

        Assert.Equal(key.SubjectPublicKeyInfo, cert.PublicKey.ExportSubjectPublicKeyInfo());
        using var chain = new X509Chain();
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(cert);
        Assert.True(chain.Build(cert), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));

        // Chain building does not check a trust anchor's own signature (it accepts a corrupted one), so verify the
        // HSM's signature over the TBSCertificate directly, and show that the check can fail.
        var outer = new AsnReader(cert.RawData, AsnEncodingRules.DER).ReadSequence();
        var tbs = outer.ReadEncodedValue().ToArray();
        outer.ReadEncodedValue();
        var signature = outer.ReadBitString(out _);
        var hashName = new HashAlgorithmName(hash);
        bool Verifies(byte[] data)
        {
            using var ec = cert.GetECDsaPublicKey();
            if (ec is not null)
            {
                return ec.VerifyData(data, signature, hashName, DSASignatureFormat.Rfc3279DerSequence);
            }

            using var rsa = cert.GetRSAPublicKey()!;
            return rsa.VerifyData(data, signature, hashName, pss ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1);
        }

        Assert.True(Verifies(tbs));
        tbs[^1] ^= 1;
        Assert.False(Verifies(tbs));
    }

    [Theory]
    [InlineData("simple")]
    [InlineData("tsa")]
    public void CmsSigner_signs_with_the_hsm_key(string domain)
    {
        var key = TestVault.Shared.Domain(domain).GetSigningKey(TestVault.SigningKeys[domain].Label);
        using var cert = SelfSigned(key, HashAlgorithmName.SHA256, pss: false);
        using var privateKey = key.CreateAlgorithm();
        var cms = new SignedCms(new ContentInfo("hello"u8.ToArray()));
        cms.ComputeSignature(new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, cert, privateKey)
        {
            DigestAlgorithm = new Oid("2.16.840.1.101.3.4.2.1"),
            IncludeOption = X509IncludeOption.EndCertOnly,
        });

        var decoded = new SignedCms();
        decoded.Decode(cms.Encode());
        decoded.CheckSignature(verifySignatureOnly: true);

        // A changed content must fail, so the check above can fail.
        var detached = new SignedCms(new ContentInfo("hellO"u8.ToArray()), detached: true);
        detached.Decode(Detach(cms.Encode()));
        Assert.ThrowsAny<CryptographicException>(() => detached.CheckSignature(verifySignatureOnly: true));
    }

    [Fact]
    public void A_crl_built_with_the_hsm_key_verifies()
    {
        var key = TestVault.Shared.Domain("advanced").GetSigningKey(TestVault.SigningKeys["advanced"].Label);
        using var issuer = SelfSigned(key, HashAlgorithmName.SHA384, pss: false, ca: true);
        var builder = new CertificateRevocationListBuilder();
        builder.AddEntry([1, 2, 3], DateTimeOffset.UtcNow.AddMinutes(-1));
        using var signer = key.CreateAlgorithm();
        var crl = builder.Build(
            issuer.SubjectName,
            X509SignatureGenerator.CreateForECDsa((ECDsa)signer),
            System.Numerics.BigInteger.One,
            DateTimeOffset.UtcNow.AddDays(1),
            HashAlgorithmName.SHA384,
            X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));

        // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
        var outer = new AsnReader(crl, AsnEncodingRules.DER).ReadSequence();
        var tbs = outer.ReadEncodedValue().ToArray();
        outer.ReadEncodedValue();
        var signature = outer.ReadBitString(out _);
        using var verifier = issuer.GetECDsaPublicKey()!;
        Assert.True(verifier.VerifyData(tbs, signature, HashAlgorithmName.SHA384, DSASignatureFormat.Rfc3279DerSequence));
        tbs[^1] ^= 1;
        Assert.False(verifier.VerifyData(tbs, signature, HashAlgorithmName.SHA384, DSASignatureFormat.Rfc3279DerSequence));
    }

    [Fact]
    public void The_hsm_algorithms_do_not_hand_out_private_parameters()
    {
        var ec = TestVault.Shared.Domain("simple").GetSigningKey(TestVault.SigningKeys["simple"].Label);
        var rsa = TestVault.Shared.Domain("tsa").GetSigningKey(TestVault.SigningKeys["tsa"].Label);
        using var ecAlg = (ECDsa)ec.CreateAlgorithm();
        using var rsaAlg = (RSA)rsa.CreateAlgorithm();
        Assert.Throws<CryptographicException>(() => ecAlg.ExportParameters(true));
        Assert.Throws<CryptographicException>(() => rsaAlg.ExportParameters(true));
        Assert.Equal(256, ecAlg.KeySize);
        Assert.Equal(2048, rsaAlg.KeySize);

        var digest = SHA256.HashData("x"u8);
        Assert.Equal(64, ecAlg.SignHash(digest).Length); // IEEE P1363 r‖s, as .NET expects
        Assert.True(ecAlg.VerifyHash(digest, ecAlg.SignHash(digest)));
        Assert.Throws<CryptographicException>(() => rsaAlg.SignHash(digest[..31], HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Assert.True(rsaAlg.VerifyHash(digest, rsa.SignDigest(digest, SignatureScheme.RsaPssSha256), HashAlgorithmName.SHA256, RSASignaturePadding.Pss));
    }

    [Fact]
    public async Task SignDigestAsync_waits_for_a_session_without_blocking_and_can_be_cancelled()
    {
        using var vault = TestVault.Open(null, null, TestVault.DomainOptions("simple", "simple", 1));
        var domain = vault.Domain("simple");
        var key = domain.GetSigningKey(TestVault.SigningKeys["simple"].Label);
        var digest = SHA256.HashData("async"u8);

        // The only session is busy: the call returns at once with a pending task instead of blocking a thread.
        ValueTask<byte[]> pending;
        using (var cancelled = new CancellationTokenSource())
        {
            var lease = domain.Pool.Rent();
            pending = key.SignDigestAsync(digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None);
            var abandoned = key.SignDigestAsync(digest, SignatureScheme.EcdsaSha256Der, cancelled.Token);
            Assert.False(pending.IsCompleted);
            Assert.False(abandoned.IsCompleted);
            await cancelled.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await abandoned);
            lease.Dispose();
        }

        var signature = await pending;
        using var ec = ECDsa.Create();
        ec.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        Assert.True(ec.VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence));
        Assert.Equal(64, (await key.SignDigestAsync(digest, SignatureScheme.EcdsaSha256P1363, CancellationToken.None)).Length);
    }

    private static byte[] Detach(byte[] encoded)
    {
        var cms = new SignedCms();
        cms.Decode(encoded);
        var detached = new SignedCms(cms.ContentInfo, detached: true);
        detached.Decode(encoded);
        return detached.Encode();
    }

    private static X509Certificate2 SelfSigned(HsmSigningKey key, HashAlgorithmName hash, bool pss, bool ca = false)
    {
        using var alg = key.CreateAlgorithm();
        var name = new X500DistinguishedName($"CN=DTrust test {key.Label}");
        var request = alg is ECDsa ecdsa
            ? new CertificateRequest(name, ecdsa, hash)
            : new CertificateRequest(name, (RSA)alg, hash, pss ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(ca, false, 0, true));
        if (ca)
        {
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.KeyCertSign, true));
        }

        // CreateSelfSigned would attach the private key by exporting it; Create with a generator only signs.
        var generator = alg is ECDsa ec
            ? X509SignatureGenerator.CreateForECDsa(ec)
            : X509SignatureGenerator.CreateForRSA((RSA)alg, pss ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1);
        return request.Create(name, generator, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3, 4]);
    }
}
