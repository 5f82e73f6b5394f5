using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using DTrust.Cms;
using DTrust.SigningServer.Signing;

namespace DTrust.Cms.Tests;

/// <summary>The builder's output read back with .NET's own CMS and RFC 3161 code (no external tools).</summary>
[Collection(SharedPki.Name)]
public sealed class CadesBuilderUnitTests(PkiFixture fixture)
{
    private const string SigningCertificateV2 = "1.2.840.113549.1.9.16.2.47";
    private const string SignatureTimeStampToken = "1.2.840.113549.1.9.16.2.14";
    private const string SigningTime = "1.2.840.113549.1.9.5";
    private readonly TestPki _pki = fixture.Pki;

    public static TheoryData<SignerCase, CmsAttributeProfile> AllCasesAndProfiles()
    {
        var data = new TheoryData<SignerCase, CmsAttributeProfile>();
        foreach (var signerCase in Enum.GetValues<SignerCase>())
        {
            data.Add(signerCase, CmsAttributeProfile.Cades);
            data.Add(signerCase, CmsAttributeProfile.Pades);
        }

        return data;
    }

    public static TheoryData<SignerCase> AllCases() => new(Enum.GetValues<SignerCase>());

    [Theory]
    [MemberData(nameof(AllCasesAndProfiles))]
    public void Signature_verifies_with_SignedCms_and_carries_the_baseline_attributes(SignerCase signerCase, CmsAttributeProfile profile)
    {
        var signer = _pki.Signers[signerCase];
        var time = new DateTimeOffset(2026, 11, 26, 10, 30, 15, TimeSpan.Zero).AddTicks(1234567);
        var sample = CmsSample.Create(_pki, signer, profile, signingTime: time);

        var cms = Decode(sample);
        cms.CheckSignature(verifySignatureOnly: true);

        Assert.Equal(1, cms.Version);
        Assert.True(cms.Detached);
        Assert.Equal("1.2.840.113549.1.7.1", cms.ContentInfo.ContentType.Value);
        Assert.Single(cms.SignerInfos);
        var signerInfo = cms.SignerInfos[0];
        Assert.Equal(SubjectIdentifierType.IssuerAndSerialNumber, signerInfo.SignerIdentifier.Type);
        Assert.Equal(signer.Certificate, signerInfo.Certificate);
        Assert.Equal(HashOid(signer.Hash), signerInfo.DigestAlgorithm.Value);
        Assert.Equal(ExpectedSignatureOid(signer), signerInfo.SignatureAlgorithm.Value);
        Assert.Equal(3, cms.Certificates.Count);
        Assert.Empty(signerInfo.UnsignedAttributes);

        var types = Attributes(signerInfo.SignedAttributes).Select(a => a.Oid.Value).ToList();
        Assert.Contains("1.2.840.113549.1.9.3", types);
        Assert.Contains("1.2.840.113549.1.9.4", types);
        Assert.Contains(SigningCertificateV2, types);
        if (profile == CmsAttributeProfile.Pades)
        {
            Assert.DoesNotContain(SigningTime, types);
            Assert.Equal(3, types.Count);
        }
        else
        {
            var signingTime = Attributes(signerInfo.SignedAttributes).Single(a => a.Oid.Value == SigningTime).Values[0];
            Assert.Equal(time.AddTicks(-1234567), new Pkcs9SigningTime(signingTime.RawData).SigningTime);
            Assert.Equal(4, types.Count);
        }
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public void Signing_certificate_v2_names_the_signer_by_sha256_hash_and_issuer_serial(SignerCase signerCase)
    {
        var signer = _pki.Signers[signerCase];
        var signerInfo = Decode(CmsSample.Create(_pki, signer, CmsAttributeProfile.Cades)).SignerInfos[0];
        var value = Attributes(signerInfo.SignedAttributes).Single(a => a.Oid.Value == SigningCertificateV2).Values[0].RawData;

        // SigningCertificateV2 ::= SEQUENCE { certs SEQUENCE OF ESSCertIDv2, policies OPTIONAL }
        var certs = new AsnReader(value, AsnEncodingRules.DER).ReadSequence().ReadSequence();
        var certId = certs.ReadSequence();
        Assert.False(certs.HasData);
        // hashAlgorithm omitted: the DEFAULT, SHA-256; the first element is the hash itself.
        Assert.Equal(SHA256.HashData(signer.Certificate.RawData), certId.ReadOctetString());
        var issuerSerial = certId.ReadSequence();
        Assert.False(certId.HasData);
        var directoryName = issuerSerial.ReadSequence().ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 4));
        Assert.Equal(_pki.IssuingCa.SubjectName.RawData, directoryName.ReadEncodedValue().ToArray());
        Assert.Equal(signer.Certificate.SerialNumberBytes.ToArray(), issuerSerial.ReadIntegerBytes().ToArray());
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public void Signature_time_stamp_is_embedded_and_covers_the_signature_value(SignerCase signerCase)
    {
        var signer = _pki.Signers[signerCase];
        var sample = CmsSample.Create(_pki, signer, CmsAttributeProfile.Cades, timestamp: true);

        var cms = Decode(sample);
        cms.CheckSignature(verifySignatureOnly: true);
        var signerInfo = cms.SignerInfos[0];
        Assert.Equal(sample.SignatureValue, signerInfo.GetSignature());
        var attribute = Assert.Single(Attributes(signerInfo.UnsignedAttributes));
        Assert.Equal(SignatureTimeStampToken, attribute.Oid.Value);
        Assert.Single(attribute.Values);
        var embedded = attribute.Values[0].RawData;
        Assert.Equal(sample.TimestampToken, embedded);

        Assert.True(Rfc3161TimestampToken.TryDecode(embedded, out var token, out var consumed));
        Assert.Equal(embedded.Length, consumed);
        Assert.True(token.VerifySignatureForSignerInfo(signerInfo, out var tsaCertificate));
        Assert.Equal(_pki.TsaCertificate, tsaCertificate);
        Assert.Equal(SHA256.HashData(sample.SignatureValue), token.TokenInfo.GetMessageHash().ToArray());
    }

    [Fact]
    public void A_batch_is_prepared_first_signed_together_and_completed_after()
    {
        var signer = _pki.Signers[SignerCase.EcdsaP256Sha256];
        var builder = new CadesBuilder(signer.Certificate, [_pki.IssuingCa]);
        var contents = Enumerable.Range(0, 8).Select(i => RandomNumberGenerator.GetBytes(100 + i)).ToArray();
        var prepared = contents.Select(c => builder.Prepare(signer.Hash, SHA256.HashData(c), CmsAttributeProfile.Pades,
            DateTimeOffset.UtcNow)).ToArray();
        var signatures = prepared.Select(p => signer.SignDigest(p.DigestToSign.Span)).ToArray();

        for (var i = 0; i < contents.Length; i++)
        {
            var cms = new SignedCms(new ContentInfo(contents[i]), detached: true);
            cms.Decode(builder.Complete(prepared[i], signer.Scheme, signatures[i], []));
            cms.CheckSignature(verifySignatureOnly: true);
            Assert.Equal(2, cms.Certificates.Count);
        }
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public void Tampered_content_fails_SignedCms(SignerCase signerCase)
    {
        var sample = CmsSample.Create(_pki, _pki.Signers[signerCase], CmsAttributeProfile.Cades);
        sample.Content[sample.Content.Length / 2] ^= 0x01;
        var cms = Decode(sample);
        Assert.ThrowsAny<CryptographicException>(() => cms.CheckSignature(verifySignatureOnly: true));
    }

    [Fact]
    public void Tampered_signature_fails_SignedCms()
    {
        var signer = _pki.Signers[SignerCase.Rsa2048PssSha256];
        var sample = CmsSample.Create(_pki, signer, CmsAttributeProfile.Cades);
        var index = sample.Cms.AsSpan().IndexOf(sample.SignatureValue);
        sample.Cms[index + 10] ^= 0x80;
        Assert.ThrowsAny<CryptographicException>(() => Decode(sample).CheckSignature(verifySignatureOnly: true));
    }

    [Fact]
    public void Signed_attributes_are_a_sorted_der_set_and_the_digest_is_over_them()
    {
        var signer = _pki.Signers[SignerCase.EcdsaP384Sha384];
        var builder = new CadesBuilder(signer.Certificate, []);
        var attributes = builder.Prepare(signer.Hash, new byte[48], CmsAttributeProfile.Cades, DateTimeOffset.UtcNow);

        Assert.Equal(0x31, attributes.Der.Span[0]);
        // A DER reader rejects a SET OF out of order.
        var set = new AsnReader(attributes.Der, AsnEncodingRules.DER).ReadSetOf();
        var count = 0;
        while (set.HasData)
        {
            set.ReadSequence();
            count++;
        }

        Assert.Equal(4, count);
        Assert.Equal(HashAlgorithmName.SHA384, attributes.Hash);
        Assert.Equal(SHA384.HashData(attributes.Der.Span), attributes.DigestToSign.ToArray());
    }

    [Theory]
    [InlineData("2049-12-31T23:59:59.9999999+00:00", 0x17, "491231235959Z")]
    [InlineData("2050-01-01T00:00:00+00:00", 0x18, "20500101000000Z")]
    [InlineData("1949-12-31T23:59:59+00:00", 0x18, "19491231235959Z")]
    [InlineData("2026-11-26T12:00:00.5+01:00", 0x17, "261126110000Z")]
    public void Signing_time_is_utc_time_from_1950_to_2049_and_generalized_time_otherwise(
        string time, byte tag, string text)
    {
        var signer = _pki.Signers[SignerCase.EcdsaP256Sha256];
        var attributes = new CadesBuilder(signer.Certificate, [])
            .Prepare(signer.Hash, new byte[32], CmsAttributeProfile.Cades, DateTimeOffset.Parse(time, System.Globalization.CultureInfo.InvariantCulture));

        var set = new AsnReader(attributes.Der, AsnEncodingRules.DER).ReadSetOf();
        while (set.HasData)
        {
            var attribute = set.ReadSequence();
            if (attribute.ReadObjectIdentifier() == SigningTime)
            {
                var value = attribute.ReadSetOf().ReadEncodedValue().Span;
                Assert.Equal(tag, value[0]);
                Assert.Equal(text, System.Text.Encoding.ASCII.GetString(value[2..]));
                return;
            }
        }

        Assert.Fail("no signing-time");
    }

    [Fact]
    public void The_signer_certificate_is_embedded_once_even_when_listed_again()
    {
        var signer = _pki.Signers[SignerCase.EcdsaP256Sha256];
        var builder = new CadesBuilder(signer.Certificate, [signer.Certificate, _pki.IssuingCa, _pki.IssuingCa]);
        var content = "x"u8.ToArray();
        var attributes = builder.Prepare(signer.Hash, SHA256.HashData(content), CmsAttributeProfile.Cades, DateTimeOffset.UtcNow);
        var cms = new SignedCms(new ContentInfo(content), detached: true);
        cms.Decode(builder.Complete(attributes, signer.Scheme, signer.SignDigest(attributes.DigestToSign.Span), []));
        Assert.Equal(2, cms.Certificates.Count);
    }

    [Fact]
    public void Ecdsa_r_s_conversion_gives_a_signature_dotnet_verifies_as_der()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP521);
        var digest = SHA512.HashData("m"u8);
        var der = CadesBuilder.EcdsaSignatureToDer(
            key.SignHash(digest, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));
        Assert.True(key.VerifyHash(digest, der, DSASignatureFormat.Rfc3279DerSequence));
        Assert.Throws<ArgumentException>(() => CadesBuilder.EcdsaSignatureToDer(new byte[63]));
    }

    [Theory]
    [InlineData("0000017F" + "80000000", "300B" + "0202017F" + "020500" + "80000000")]
    [InlineData("00000000" + "00000001", "3006" + "020100" + "020101")]
    public void Ecdsa_r_s_conversion_strips_leading_zeros_and_adds_a_sign_byte(string rs, string der) =>
        Assert.Equal(Convert.FromHexString(der), CadesBuilder.EcdsaSignatureToDer(Convert.FromHexString(rs)));

    [Theory]
    [InlineData("SHA256", 31)]
    [InlineData("SHA256", 48)]
    [InlineData("SHA512", 32)]
    [InlineData("SHA1", 20)]
    [InlineData("MD5", 16)]
    public void Prepare_refuses_a_hash_that_does_not_fit_its_algorithm(string hash, int length)
    {
        var builder = new CadesBuilder(_pki.Signers[SignerCase.EcdsaP256Sha256].Certificate, []);
        Assert.Throws<ArgumentException>(() =>
            builder.Prepare(new HashAlgorithmName(hash), new byte[length], CmsAttributeProfile.Cades, DateTimeOffset.UtcNow));
        Assert.Throws<ArgumentException>(() =>
            builder.Prepare(HashAlgorithmName.SHA256, new byte[32], CmsAttributeProfile.TimeStampToken, DateTimeOffset.UtcNow));
    }

    [Fact]
    public void Complete_refuses_inputs_that_do_not_fit_the_key()
    {
        var ec = _pki.Signers[SignerCase.EcdsaP256Sha256];
        var rsa = _pki.Signers[SignerCase.Rsa2048PssSha256];
        var ecBuilder = new CadesBuilder(ec.Certificate, []);
        var rsaBuilder = new CadesBuilder(rsa.Certificate, []);
        var ecAttributes = ecBuilder.Prepare(ec.Hash, new byte[32], CmsAttributeProfile.Cades, DateTimeOffset.UtcNow);
        var rsaAttributes = rsaBuilder.Prepare(rsa.Hash, new byte[32], CmsAttributeProfile.Cades, DateTimeOffset.UtcNow);
        var ecSignature = ec.SignDigest(ecAttributes.DigestToSign.Span);
        var rsaSignature = rsa.SignDigest(rsaAttributes.DigestToSign.Span);

        // Scheme against key.
        Assert.Throws<ArgumentException>(() => ecBuilder.Complete(ecAttributes, CmsSignatureScheme.RsaPss, ecSignature, []));
        Assert.Throws<ArgumentException>(() => rsaBuilder.Complete(rsaAttributes, CmsSignatureScheme.Ecdsa, rsaSignature, []));
        Assert.Throws<ArgumentException>(() => rsaBuilder.Complete(rsaAttributes, (CmsSignatureScheme)9, rsaSignature, []));
        // RSA signature length against the modulus.
        Assert.Throws<ArgumentException>(() => rsaBuilder.Complete(rsaAttributes, rsa.Scheme, rsaSignature.AsSpan(1), []));
        // ECDSA r||s instead of DER, trailing data, an r longer than the P-256 order.
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var raw = key.SignHash(new byte[32], DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        Assert.Throws<ArgumentException>(() => ecBuilder.Complete(ecAttributes, ec.Scheme, raw, []));
        Assert.Throws<ArgumentException>(() => ecBuilder.Complete(ecAttributes, ec.Scheme, [.. ecSignature, 0], []));
        Assert.Throws<ArgumentException>(() => ecBuilder.Complete(ecAttributes, ec.Scheme,
            CadesBuilder.EcdsaSignatureToDer([.. Enumerable.Repeat((byte)0x7F, 66)]), []));
        // Attributes prepared by another builder.
        Assert.Throws<ArgumentException>(() =>
            new CadesBuilder(ec.Certificate, []).Complete(ecAttributes, ec.Scheme, ecSignature, []));
        // A time-stamp token that is not a ContentInfo of SignedData.
        Assert.Throws<ArgumentException>(() => ecBuilder.Complete(ecAttributes, ec.Scheme, ecSignature, [0x30, 0x00]));
        Assert.Throws<ArgumentException>(() => ecBuilder.Complete(ecAttributes, ec.Scheme, ecSignature, [0x04, 0x01, 0x00]));
        Assert.Throws<ArgumentException>(() => ecBuilder.Complete(ecAttributes, ec.Scheme, ecSignature,
            [0x30, 0x0B, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x01]));

        // And the valid call goes through.
        Assert.NotEmpty(ecBuilder.Complete(ecAttributes, ec.Scheme, ecSignature, []));
    }

    [Fact]
    public void Rsa_pss_parameters_name_the_hash_mgf1_and_a_hash_long_salt()
    {
        var signer = _pki.Signers[SignerCase.Rsa3072PssSha512];
        var sample = CmsSample.Create(_pki, signer, CmsAttributeProfile.Cades);
        var signerInfo = new AsnReader(sample.Cms, AsnEncodingRules.DER).ReadSequence();
        signerInfo.ReadObjectIdentifier();
        var signedData = signerInfo.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence();
        signedData.ReadInteger();
        signedData.ReadSetOf();
        signedData.ReadSequence();
        signedData.ReadSetOf(new Asn1Tag(TagClass.ContextSpecific, 0));
        var info = signedData.ReadSetOf().ReadSequence();
        info.ReadInteger();
        info.ReadSequence();
        info.ReadSequence();
        info.ReadSetOf(new Asn1Tag(TagClass.ContextSpecific, 0));
        var algorithm = info.ReadSequence();
        Assert.Equal("1.2.840.113549.1.1.10", algorithm.ReadObjectIdentifier());

        var expected = Convert.FromHexString(
            "3034" + "A00F300D06096086480165030402030500"
            + "A11C301A06092A864886F70D010108300D06096086480165030402030500" + "A203020140");
        Assert.Equal(expected, algorithm.ReadEncodedValue().ToArray());
    }

    private static IEnumerable<CryptographicAttributeObject> Attributes(CryptographicAttributeObjectCollection attributes) =>
        attributes.Cast<CryptographicAttributeObject>();

    private static SignedCms Decode(CmsSample sample)
    {
        var cms = new SignedCms(new ContentInfo(sample.Content), detached: true);
        cms.Decode(sample.Cms);
        return cms;
    }

    private static string HashOid(HashAlgorithmName hash) =>
        hash == HashAlgorithmName.SHA256 ? "2.16.840.1.101.3.4.2.1"
        : hash == HashAlgorithmName.SHA384 ? "2.16.840.1.101.3.4.2.2"
        : "2.16.840.1.101.3.4.2.3";

    private static string ExpectedSignatureOid(TestSigner signer) => signer.Scheme switch
    {
        CmsSignatureScheme.Ecdsa => signer.Hash == HashAlgorithmName.SHA256 ? "1.2.840.10045.4.3.2" : "1.2.840.10045.4.3.3",
        CmsSignatureScheme.RsaPkcs1 => "1.2.840.113549.1.1.11",
        _ => "1.2.840.113549.1.1.10",
    };
}
