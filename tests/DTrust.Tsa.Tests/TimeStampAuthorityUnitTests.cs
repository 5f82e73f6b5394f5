using System.Collections.Concurrent;
using System.Formats.Asn1;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using DTrust.Testing;
using Xunit;

namespace DTrust.Tsa.Tests;

/// <summary>Token contents checked in process (no external tools).</summary>
public sealed class TimeStampAuthorityUnitTests : IDisposable
{
    // Today at midnight UTC: inside the test TSA certificate's validity, with a known textual form.
    private static readonly DateTimeOffset Start = new(DateTime.UtcNow.Date, TimeSpan.Zero);
    private readonly TestPki _pki = TestPki.CreateEcdsa();
    private readonly FakeTimeProvider _time = new(Start);

    public void Dispose() => _pki.Dispose();

    [Theory]
    [InlineData(new byte[] { 0x01 })]
    [InlineData(new byte[] { 0x00, 0xFF, 0xEE, 0xDD, 0xCC, 0xBB, 0xAA, 0x99, 0x88 })]
    [InlineData(new byte[] { 0x80, 0x01 })]
    [InlineData(new byte[] { 0x7F, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19 })]
    public void Nonce_is_echoed_unchanged(byte[] nonce)
    {
        var result = Tsa().Respond(new RequestBuilder { Nonce = nonce }.Encode());
        var info = TokenInspector.Decode(result).TokenInfo;
        Assert.Equal(nonce, info.GetNonce()!.Value.ToArray());
    }

    [Fact]
    public void Token_without_nonce_has_none()
    {
        var info = TokenInspector.Decode(Tsa().Respond(new RequestBuilder().Encode())).TokenInfo;
        Assert.Null(info.GetNonce());
    }

    [Fact]
    public void Token_fields_match_the_options_and_the_clock()
    {
        var digest = SHA256.HashData("x"u8);
        var options = new TsaOptions { TsaName = _pki.TsaCertificate.SubjectName };
        var result = Tsa(options).Respond(new RequestBuilder { Digest = digest }.Encode());
        var info = TokenInspector.Decode(result).TokenInfo;

        Assert.Equal(1, info.Version);
        Assert.Equal(TsaOptions.DefaultPolicyOid, info.PolicyId.Value);
        Assert.Equal(RequestBuilder.Sha256, info.HashAlgorithmId.Value);
        Assert.Equal(digest, info.GetMessageHash().ToArray());
        Assert.Equal(Start, info.Timestamp);
        Assert.Equal(Start, result.GenTime);
        Assert.Equal(1_000_000L, info.AccuracyInMicroseconds);
        Assert.False(info.IsOrdering);
        Assert.False(info.HasExtensions);
        Assert.Equal(_pki.TsaCertificate.SubjectName.RawData, ReadDirectoryName(info.GetTimestampAuthorityName()!.Value));
    }

    [Fact]
    public void Serial_is_positive_127_bits_and_reported_for_audit()
    {
        var result = Tsa().Respond(new RequestBuilder().Encode());
        var serial = TokenInspector.Decode(result).TokenInfo.GetSerialNumber().ToArray();
        Assert.Equal(16, serial.Length);
        Assert.Equal(0x40, serial[0] & 0xC0);
        Assert.Equal(Convert.ToHexString(serial), result.SerialNumber);
    }

    [Fact]
    public async Task Hundred_thousand_tokens_from_four_tasks_have_distinct_serials()
    {
        const int PerTask = 25_000;
        var tsa = Tsa(time: TimeProvider.System);
        var request = new RequestBuilder { Nonce = [0x2A] }.Encode();
        var serials = new ConcurrentDictionary<string, byte>();
        var duplicates = 0;

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < PerTask; i++)
            {
                var result = tsa.Respond(request);
                Assert.True(result.IsGranted, result.StatusText);
                if (!serials.TryAdd(result.SerialNumber!, 0))
                {
                    Interlocked.Increment(ref duplicates);
                }
            }
        })));

        Assert.Equal(0, duplicates);
        Assert.Equal(4 * PerTask, serials.Count);
    }

    [Fact]
    public void GenTime_has_microsecond_precision_and_DER_fraction()
    {
        var tsa = Tsa();
        _time.Set(Start.AddTicks(1_200_000)); // 0.12 s
        Assert.Equal(Start.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + ".12Z", TokenInspector.RawGenTime(tsa.Respond(new RequestBuilder().Encode())));

        _time.Set(Start.AddSeconds(1).AddTicks(6_510_947)); // 0.6510947 s: the 100 ns tick is dropped
        Assert.Equal(Start.AddSeconds(1).ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + ".651094Z", TokenInspector.RawGenTime(tsa.Respond(new RequestBuilder().Encode())));

        _time.Set(Start.AddSeconds(2));
        Assert.Equal(Start.AddSeconds(2).ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "Z", TokenInspector.RawGenTime(tsa.Respond(new RequestBuilder().Encode())));
    }

    [Fact]
    public void GenTime_is_monotonic_and_within_accuracy_when_the_clock_jitters_back()
    {
        var accuracy = TimeSpan.FromMilliseconds(100);
        var tsa = Tsa(new TsaOptions { Accuracy = accuracy });
        var request = new RequestBuilder().Encode();
        var random = new Random(3161);
        var trueTime = Start;
        var previous = DateTimeOffset.MinValue;

        for (var i = 0; i < 2000; i++)
        {
            // True time moves forward; the clock reads it with up to ±45 ms of error, i.e. within the accuracy,
            // so consecutive readings can go back by up to 90 ms.
            trueTime += TimeSpan.FromMicroseconds(random.Next(0, 50_000));
            _time.Set(trueTime + TimeSpan.FromMicroseconds(random.Next(-45_000, 45_000)));
            var genTime = tsa.Respond(request).GenTime!.Value;
            Assert.True(genTime >= previous, $"genTime went back at {i}: {previous:O} -> {genTime:O}");
            Assert.True((genTime - trueTime).Duration() <= accuracy, $"genTime {genTime:O} is not within accuracy of {trueTime:O}");
            previous = genTime;
        }
    }

    [Fact]
    public void GenTime_follows_a_backward_step_larger_than_the_accuracy()
    {
        var tsa = Tsa();
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(_time.Now, tsa.Respond(new RequestBuilder().Encode()).GenTime);

        // Claiming the earlier time would be off by minutes: follow the clock (and log), never exceed accuracy.
        _time.Advance(TimeSpan.FromMinutes(-4));
        Assert.Equal(_time.Now, tsa.Respond(new RequestBuilder().Encode()).GenTime);
    }

    [Fact]
    public void Signed_attributes_are_content_type_message_digest_and_signing_certificate_v2()
    {
        var result = Tsa().Respond(new RequestBuilder { CertReq = true }.Encode());
        var token = TokenInspector.Decode(result);

        // The CMS is hand-encoded: SignedCms must read it, verify it and re-encode it to the same DER.
        var cms = new SignedCms();
        cms.Decode(result.Token.Span);
        cms.CheckSignature(verifySignatureOnly: true);
        Assert.Equal(3, cms.Version);
        Assert.Equal(result.Token.ToArray(), cms.Encode());

        var signerInfo = token.AsSignedCms().SignerInfos[0];
        Assert.Equal(1, signerInfo.Version);
        Assert.Equal(SubjectIdentifierType.IssuerAndSerialNumber, signerInfo.SignerIdentifier.Type);
        var oids = signerInfo.SignedAttributes.Cast<CryptographicAttributeObject>().Select(a => a.Oid.Value).Order();
        Assert.Equal(["1.2.840.113549.1.9.16.2.47", "1.2.840.113549.1.9.3", "1.2.840.113549.1.9.4"], oids);
        Assert.Equal("1.2.840.10045.4.3.2", signerInfo.SignatureAlgorithm.Value); // ecdsa-with-SHA256
        Assert.Equal(RequestBuilder.Sha256, signerInfo.DigestAlgorithm.Value);

        var v2 = signerInfo.SignedAttributes.Cast<CryptographicAttributeObject>()
            .Single(a => a.Oid.Value == "1.2.840.113549.1.9.16.2.47").Values[0].RawData;
        var certId = new AsnReader(v2, AsnEncodingRules.DER).ReadSequence().ReadSequence().ReadSequence();
        Assert.Equal(SHA256.HashData(_pki.TsaCertificate.RawData), certId.ReadOctetString()); // hashAlgorithm omitted: SHA-256
        var issuerSerial = certId.ReadSequence();
        var generalName = issuerSerial.ReadSequence().ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 4, true));
        Assert.Equal(_pki.TsaCertificate.IssuerName.RawData, generalName.ReadEncodedValue().ToArray());
        Assert.Equal(_pki.TsaCertificate.SerialNumberBytes.ToArray(), issuerSerial.ReadIntegerBytes().ToArray());
    }

    [Theory]
    [InlineData(false, false, 0)]
    [InlineData(true, false, 1)]
    [InlineData(true, true, 2)]
    public void Certificates_follow_certReq_and_IncludeChain(bool certReq, bool includeChain, int expected)
    {
        var tsa = Tsa(new TsaOptions { IncludeChain = includeChain });
        var certs = TokenInspector.Decode(tsa.Respond(new RequestBuilder { CertReq = certReq }.Encode()))
            .AsSignedCms().Certificates;
        Assert.Equal(expected, certs.Count);
        if (expected > 0)
        {
            Assert.Contains(_pki.TsaCertificate, certs.Cast<X509Certificate2>()); // SET OF: DER order, not ours
        }
    }

    [Fact]
    public void Qualified_mode_adds_non_critical_qcStatements_with_qtst_statement()
    {
        var info = TokenInspector.Decode(Tsa(new TsaOptions { Qualified = true }).Respond(new RequestBuilder().Encode()))
            .TokenInfo;
        Assert.True(info.HasExtensions);
        var ext = Assert.Single(info.GetExtensions().Cast<X509Extension>());
        Assert.Equal("1.3.6.1.5.5.7.1.3", ext.Oid!.Value);
        Assert.False(ext.Critical);

        var statements = new AsnReader(ext.RawData, AsnEncodingRules.DER).ReadSequence();
        var statement = statements.ReadSequence();
        Assert.Equal("0.4.0.19422.1.1", statement.ReadObjectIdentifier());
        Assert.False(statement.HasData);
        Assert.False(statements.HasData);
    }

    [Fact]
    public void In_process_timestamp_of_a_digest_verifies()
    {
        var digest = SHA384.HashData("signature value"u8);
        var result = Tsa().Timestamp(HashAlgorithmName.SHA384, digest);
        var check = TimeStampVerifier.Verify(result.Token, digest, HashAlgorithmName.SHA384, trustedRoots: [_pki.Root]);
        Assert.True(check.IsValid, check.Error);
        Assert.Null(check.TokenInfo!.GetNonce());

        Assert.False(TimeStampVerifier.Verify(result.Token, SHA384.HashData("other"u8), HashAlgorithmName.SHA384).IsValid);
        using var otherPki = TestPki.CreateEcdsa();
        Assert.False(TimeStampVerifier.Verify(result.Token, digest, HashAlgorithmName.SHA384,
            trustedRoots: [otherPki.Root]).IsValid);
    }

    [Fact]
    public void In_process_timestamp_refuses_like_the_wire()
    {
        var tsa = Tsa();
        Assert.Equal(PkiFailureInfo.BadAlg, tsa.Timestamp(HashAlgorithmName.SHA1, new byte[20]).FailureInfo);
        Assert.Equal(PkiFailureInfo.BadDataFormat, tsa.Timestamp(HashAlgorithmName.SHA256, new byte[31]).FailureInfo);
    }

    [Fact]
    public void Hsm_like_key_without_exportable_private_part_signs()
    {
        using var key = new FailingEcdsa((ECDsa)_pki.TsaKey);
        var tsa = new TimeStampAuthority(new TsaOptions(), new TsaSigner(_pki.TsaCertificate, key), _time);
        var before = key.Signatures;
        var digest = SHA256.HashData("hsm"u8);
        var result = tsa.Timestamp(HashAlgorithmName.SHA256, digest);
        Assert.True(TimeStampVerifier.Verify(result.Token, digest, HashAlgorithmName.SHA256).IsValid);
        Assert.Equal(before + 1, key.Signatures);
        Assert.False(_pki.TsaCertificate.HasPrivateKey);
    }

    [Fact]
    public void Signer_refuses_a_key_that_does_not_match_the_certificate()
    {
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Throws<ArgumentException>(() => new TsaSigner(_pki.TsaCertificate, other));
    }

    [Fact]
    public void Signer_refuses_a_certificate_without_the_timestamping_profile()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=not a TSA", key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.8")], critical: false));
        using var cert = req.CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        Assert.Throws<ArgumentException>(() => new TsaSigner(cert, key));
    }

    [Fact]
    public void No_token_outside_the_certificate_validity()
    {
        var tsa = Tsa();
        _time.Set(_pki.TsaCertificate.NotAfter.ToUniversalTime().AddSeconds(1));
        var result = tsa.Respond(new RequestBuilder().Encode());
        Assert.Equal(PkiFailureInfo.SystemFailure, result.FailureInfo);
        Assert.True(result.Token.IsEmpty);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    public void Options_refuse_accuracy_outside_one_second(int millis)
    {
        var options = new TsaOptions { Accuracy = TimeSpan.FromMilliseconds(millis) };
        Assert.Throws<ArgumentOutOfRangeException>(() => new TimeStampAuthority(options, _pki.Signer(), _time));
    }

    [Fact]
    public void Options_refuse_a_malformed_policy()
    {
        var options = new TsaOptions { PolicyOid = "dtrust.policy" };
        Assert.Throws<ArgumentException>(() => new TimeStampAuthority(options, _pki.Signer(), _time));
    }

    [Fact]
    public void Certificate_profile_has_critical_timestamping_eku_and_digital_signature()
    {
        var ekus = _pki.TsaCertificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().Single();
        Assert.True(ekus.Critical);
        Assert.Equal(["1.3.6.1.5.5.7.3.8"], ekus.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
        var ku = _pki.TsaCertificate.Extensions.OfType<X509KeyUsageExtension>().Single();
        Assert.True(ku.Critical);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, ku.KeyUsages);
        Assert.Single(_pki.TsaCertificate.Extensions.OfType<X509SubjectKeyIdentifierExtension>());
    }

    private TimeStampAuthority Tsa(TsaOptions? options = null, TimeProvider? time = null) =>
        new(options ?? new TsaOptions(), _pki.Signer(), time ?? _time);

    private static byte[] ReadDirectoryName(ReadOnlyMemory<byte> generalName) =>
        new AsnReader(generalName, AsnEncodingRules.DER)
            .ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 4, true)).ReadEncodedValue().ToArray();
}
