using System.Formats.Asn1;
using System.Security.Cryptography;
using Xunit;

namespace DTrust.Tsa.Tests;

/// <summary>Every refusal is a well-formed rejection that openssl prints, with the right failure bit and no token.</summary>
public sealed class RefusalTests : IDisposable
{
    private const string OtherPolicy = TsaOptions.DevelopmentArc + ".1.2";
    private readonly TestPki _pki = TestPki.CreateEcdsa();
    private readonly SettableClockStatus _clock = new();
    private readonly TimeStampAuthority _tsa;

    public RefusalTests()
    {
        _tsa = new TimeStampAuthority(new TsaOptions { AcceptedPolicies = { OtherPolicy } }, _pki.Signer(),
            TimeProvider.System, _clock);
    }

    public static TheoryData<string, byte[], PkiFailureInfo, string> Cases()
    {
        var valid = new RequestBuilder { Nonce = [0x01, 0x02], CertReq = true }.Encode();
        return new()
        {
            { "SHA-1 imprint", new RequestBuilder { HashOid = RequestBuilder.Sha1, Digest = new byte[20] }.Encode(),
                PkiFailureInfo.BadAlg, "unrecognized or unsupported algorithm identifier" },
            { "MD5 imprint", new RequestBuilder { HashOid = "1.2.840.113549.2.5", Digest = new byte[16] }.Encode(),
                PkiFailureInfo.BadAlg, "unrecognized or unsupported algorithm identifier" },
            { "non-NULL hash parameters", WithHashParameters(), PkiFailureInfo.BadAlg,
                "unrecognized or unsupported algorithm identifier" },
            { "SHA-256 OID with 20-byte digest", new RequestBuilder { Digest = new byte[20] }.Encode(),
                PkiFailureInfo.BadDataFormat, "the data submitted has the wrong format" },
            { "SHA-512 OID with 32-byte digest", new RequestBuilder { HashOid = RequestBuilder.Sha512 }.Encode(),
                PkiFailureInfo.BadDataFormat, "the data submitted has the wrong format" },
            { "version 2", new RequestBuilder { Version = 2 }.Encode(), PkiFailureInfo.BadRequest,
                "transaction not permitted or supported" },
            { "unknown policy", new RequestBuilder { Policy = "1.2.3.4.5" }.Encode(), PkiFailureInfo.UnacceptedPolicy,
                "the requested TSA policy is not supported by the TSA" },
            { "unknown critical extension", new RequestBuilder { Extensions = [("1.2.3.4", true)] }.Encode(),
                PkiFailureInfo.UnacceptedExtension, "the requested extension is not supported by the TSA" },
            { "duplicate extension", new RequestBuilder { Extensions = [("1.2.3.4", false), ("1.2.3.4", false)] }.Encode(),
                PkiFailureInfo.BadDataFormat, "the data submitted has the wrong format" },
            { "empty input", [], PkiFailureInfo.BadDataFormat, "the data submitted has the wrong format" },
            { "random bytes", RandomNumberGenerator.GetBytes(100), PkiFailureInfo.BadDataFormat,
                "the data submitted has the wrong format" },
            { "truncated request", valid[..^3], PkiFailureInfo.BadDataFormat, "the data submitted has the wrong format" },
            { "trailing byte", [.. valid, 0x00], PkiFailureInfo.BadDataFormat, "the data submitted has the wrong format" },
            { "BER indefinite length", IndefiniteLength(valid), PkiFailureInfo.BadDataFormat,
                "the data submitted has the wrong format" },
            { "fields out of order", OutOfOrder(), PkiFailureInfo.BadDataFormat, "the data submitted has the wrong format" },
            { "oversized nonce", new RequestBuilder { Nonce = [0x01, .. new byte[70]] }.Encode(),
                PkiFailureInfo.BadDataFormat, "the data submitted has the wrong format" },
            { "oversized request", new byte[70_000], PkiFailureInfo.BadDataFormat, "the data submitted has the wrong format" },
        };
    }

    public void Dispose() => _pki.Dispose();

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Malformed_or_unacceptable_request_is_rejected(string what, byte[] request, PkiFailureInfo failure,
        string opensslFailureText)
    {
        var result = _tsa.Respond(request);
        Assert.Equal(PkiStatus.Rejection, result.Status);
        Assert.Equal(failure, result.FailureInfo);
        Assert.True(result.Token.IsEmpty, what);
        Assert.Null(result.SerialNumber);
        await AssertOpenSslPrintsRejectionAsync(result, opensslFailureText);
    }

    [Fact]
    public async Task Sha1_request_made_by_openssl_is_rejected_with_badAlg()
    {
        await File.WriteAllTextAsync(_pki.File("data.txt"), "data");
        await OpenSsl.RunAsync("ts", "-query", "-data", _pki.File("data.txt"), "-sha1", "-out", _pki.File("req.tsq"));
        var result = _tsa.Respond(await File.ReadAllBytesAsync(_pki.File("req.tsq")));
        Assert.Equal(PkiFailureInfo.BadAlg, result.FailureInfo);
        await AssertOpenSslPrintsRejectionAsync(result, "unrecognized or unsupported algorithm identifier");
    }

    [Fact]
    public async Task Unsynchronised_clock_gives_timeNotAvailable_until_it_recovers()
    {
        var request = new RequestBuilder().Encode();
        _clock.IsSynchronized = false;
        var result = _tsa.Respond(request);
        Assert.Equal(PkiFailureInfo.TimeNotAvailable, result.FailureInfo);
        await AssertOpenSslPrintsRejectionAsync(result, "the TSA's time source is not available");

        _clock.IsSynchronized = true;
        Assert.True(_tsa.Respond(request).IsGranted);
    }

    [Fact]
    public async Task Malformed_request_is_badDataFormat_even_when_the_clock_is_unsynchronised()
    {
        _clock.IsSynchronized = false;
        var result = _tsa.Respond([0x30, 0x03, 0x02, 0x01]);
        Assert.Equal(PkiFailureInfo.BadDataFormat, result.FailureInfo);
        await AssertOpenSslPrintsRejectionAsync(result, "the data submitted has the wrong format");
    }

    [Fact]
    public async Task Failing_key_gives_systemFailure_and_the_tsa_keeps_serving()
    {
        using var key = new FailingEcdsa((ECDsa)_pki.TsaKey);
        var tsa = new TimeStampAuthority(new TsaOptions(), new TsaSigner(_pki.TsaCertificate, key), TimeProvider.System);
        var request = new RequestBuilder().Encode();

        key.Fail = true;
        var result = tsa.Respond(request);
        Assert.Equal(PkiFailureInfo.SystemFailure, result.FailureInfo);
        Assert.DoesNotContain("HSM", result.StatusText, StringComparison.Ordinal);
        await AssertOpenSslPrintsRejectionAsync(result, "the request cannot be handled due to system failure");

        key.Fail = false;
        Assert.True(tsa.Respond(request).IsGranted);
    }

    [Fact]
    public void Requested_accepted_policy_is_granted()
    {
        var result = _tsa.Respond(new RequestBuilder { Policy = OtherPolicy }.Encode());
        Assert.True(result.IsGranted);
        Assert.Equal(OtherPolicy, result.Policy);
    }

    [Fact]
    public void Unknown_non_critical_extension_is_ignored_and_NULL_parameters_accepted()
    {
        var result = _tsa.Respond(new RequestBuilder
        {
            NullParameters = true,
            CertReq = false,
            Extensions = [("1.2.3.4", false)],
        }.Encode());
        Assert.True(result.IsGranted, result.StatusText);
    }

    private async Task AssertOpenSslPrintsRejectionAsync(TsaResult result, string failureText)
    {
        var path = _pki.File("reject.tsr");
        await File.WriteAllBytesAsync(path, result.Response);
        var text = await OpenSsl.RunAsync("ts", "-reply", "-in", path, "-text");
        Assert.Contains("Status: Rejected.", text, StringComparison.Ordinal);
        Assert.Contains("Failure info: " + failureText, text, StringComparison.Ordinal);
        Assert.Contains("TST info:\nNot included.", text, StringComparison.Ordinal);
    }

    private static byte[] WithHashParameters()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteInteger(1);
            using (w.PushSequence())
            {
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(RequestBuilder.Sha256);
                    w.WriteInteger(5);
                }

                w.WriteOctetString(new byte[32]);
            }
        }

        return w.Encode();
    }

    private static byte[] OutOfOrder()
    {
        // certReq before the nonce: each field is valid, the order is not.
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteInteger(1);
            using (w.PushSequence())
            {
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(RequestBuilder.Sha256);
                }

                w.WriteOctetString(new byte[32]);
            }

            w.WriteBoolean(true);
            w.WriteInteger(42);
        }

        return w.Encode();
    }

    private static byte[] IndefiniteLength(byte[] der)
    {
        // Same content, outer SEQUENCE re-encoded with BER indefinite length (0x80 ... 00 00).
        var reader = new AsnReader(der, AsnEncodingRules.DER).ReadSequence();
        var inner = new List<byte>();
        while (reader.HasData)
        {
            inner.AddRange(reader.ReadEncodedValue().ToArray());
        }

        return [0x30, 0x80, .. inner, 0x00, 0x00];
    }
}
