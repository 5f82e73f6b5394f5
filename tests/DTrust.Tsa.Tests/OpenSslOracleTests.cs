using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace DTrust.Tsa.Tests;

/// <summary>openssl builds the requests, prints and verifies our responses; .NET's RFC 3161 code must agree.</summary>
public sealed partial class OpenSslOracleTests(ITestOutputHelper output) : IDisposable
{
    private readonly TestPki _pki = TestPki.CreateEcdsa();

    public void Dispose() => _pki.Dispose();

    [Theory]
    [InlineData("-sha256", true, true)]
    [InlineData("-sha256", false, true)]
    [InlineData("-sha512", true, true)]
    [InlineData("-sha384", true, false)]
    [InlineData("-sha256", false, false)]
    public async Task OpenSsl_request_is_granted_printed_and_verified(string digest, bool nonce, bool certReq)
    {
        var options = new TsaOptions { TsaName = _pki.TsaCertificate.SubjectName };
        var tsa = new TimeStampAuthority(options, _pki.Signer(), TimeProvider.System);
        var (result, text) = await RoundTripAsync(tsa, digest, nonce, certReq);

        Assert.True(result.IsGranted, result.StatusText);
        Assert.Contains("Status: Granted.", text, StringComparison.Ordinal);
        Assert.Contains("Policy OID: " + TsaOptions.DefaultPolicyOid, text, StringComparison.Ordinal);
        Assert.Contains("Hash Algorithm: " + digest[1..], text, StringComparison.Ordinal);
        Assert.Equal(result.SerialNumber, Field(text, "Serial number").Replace("0x", "", StringComparison.Ordinal));
        Assert.Matches(@"Time stamp: \w+ +\d+ \d\d:\d\d:\d\d(\.\d+)? \d{4} GMT", text);
        Assert.Contains("Accuracy: 0x01 seconds, unspecified millis, unspecified micros", text, StringComparison.Ordinal);
        Assert.Contains("Ordering: no", text, StringComparison.Ordinal);
        Assert.Contains("TSA: DirName:/C=DE/O=DTrust/CN=DTrust Test TSA", text, StringComparison.Ordinal);

        var requestText = await OpenSsl.RunAsync("ts", "-query", "-in", _pki.File("req.tsq"), "-text");
        Assert.Equal(Field(requestText, "Nonce"), Field(text, "Nonce"));
        Assert.Equal(nonce ? "0x" : "unspecified", Field(text, "Nonce")[..(nonce ? 2 : 11)]);

        await VerifyWithOpenSslAsync();
        AssertDotNetAgrees(result, digest);
    }

    [Fact]
    public async Task Millisecond_accuracy_and_requested_policy_are_written()
    {
        const string OtherPolicy = TsaOptions.DevelopmentArc + ".1.2";
        var options = new TsaOptions { Accuracy = TimeSpan.FromMilliseconds(250), AcceptedPolicies = { OtherPolicy } };
        var tsa = new TimeStampAuthority(options, _pki.Signer(), TimeProvider.System);
        var (result, text) = await RoundTripAsync(tsa, "-sha256", nonce: true, certReq: true, "-tspolicy", OtherPolicy);

        Assert.True(result.IsGranted, result.StatusText);
        Assert.Equal(OtherPolicy, result.Policy);
        Assert.Contains("Policy OID: " + OtherPolicy, text, StringComparison.Ordinal);
        Assert.Contains("Accuracy: unspecified seconds, 0xFA millis, unspecified micros", text, StringComparison.Ordinal);
        Assert.Contains("TSA: unspecified", text, StringComparison.Ordinal);
        await VerifyWithOpenSslAsync();
    }

    [Fact]
    public async Task Qualified_token_carries_qcStatements_that_openssl_prints_and_verifies()
    {
        var tsa = new TimeStampAuthority(new TsaOptions { Qualified = true }, _pki.Signer(), TimeProvider.System);
        var (result, text) = await RoundTripAsync(tsa, "-sha256", nonce: true, certReq: true);

        Assert.True(result.IsGranted, result.StatusText);
        var extensions = text[text.IndexOf("Extensions:", StringComparison.Ordinal)..];
        Assert.Contains("qcStatements", extensions, StringComparison.OrdinalIgnoreCase);
        await VerifyWithOpenSslAsync();
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Rsa_key_signs_tokens_that_openssl_and_dotnet_verify(bool pss)
    {
        using var rsaPki = TestPki.CreateRsa();
        var options = new TsaOptions { RsaPadding = pss ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1 };
        var tsa = new TimeStampAuthority(options, rsaPki.Signer(), TimeProvider.System);
        await System.IO.File.WriteAllTextAsync(rsaPki.File("data.txt"), "RSA data");
        await OpenSsl.RunAsync("ts", "-query", "-data", rsaPki.File("data.txt"), "-sha256", "-cert", "-out", rsaPki.File("req.tsq"));

        var result = tsa.Respond(await System.IO.File.ReadAllBytesAsync(rsaPki.File("req.tsq")));
        Assert.True(result.IsGranted, result.StatusText);
        await System.IO.File.WriteAllBytesAsync(rsaPki.File("resp.tsr"), result.Response);

        if (pss)
        {
            // openssl 3.0's ts -verify goes through its PKCS7 code, which only knows PKCS#1 v1.5 for RSA; its CMS
            // code understands PSS, so the signature is checked there (and the imprint by .NET below).
            await System.IO.File.WriteAllBytesAsync(rsaPki.File("token.der"), result.Token.ToArray());
            var cms = await OpenSsl.RunAsync("cms", "-verify", "-inform", "DER", "-in", rsaPki.File("token.der"),
                "-CAfile", rsaPki.RootPem, "-certfile", rsaPki.TsaPem, "-purpose", "any", "-out", rsaPki.File("tst.der"));
            output.WriteLine(cms);
            Assert.Contains("Verification successful", cms, StringComparison.Ordinal);
        }
        else
        {
            var verify = await OpenSsl.RunAsync("ts", "-verify", "-data", rsaPki.File("data.txt"), "-in",
                rsaPki.File("resp.tsr"), "-CAfile", rsaPki.RootPem, "-untrusted", rsaPki.TsaPem);
            Assert.Contains("Verification: OK", verify, StringComparison.Ordinal);
        }

        var check = TimeStampVerifier.Verify(result.Token, SHA256.HashData("RSA data"u8), HashAlgorithmName.SHA256,
            trustedRoots: [rsaPki.Root]);
        Assert.True(check.IsValid, check.Error);
        var signerInfo = Rfc3161TimestampToken.TryDecode(result.Token, out var token, out _)
            ? token.AsSignedCms().SignerInfos[0] : throw new InvalidOperationException("token does not decode");
        Assert.Equal(pss ? "1.2.840.113549.1.1.10" : "1.2.840.113549.1.1.11", signerInfo.SignatureAlgorithm.Value);
    }

    private async Task<(TsaResult Result, string Text)> RoundTripAsync(
        TimeStampAuthority tsa, string digest, bool nonce, bool certReq, params string[] extra)
    {
        await System.IO.File.WriteAllTextAsync(_pki.File("data.txt"), "document to stamp " + Guid.NewGuid());
        var args = new List<string> { "ts", "-query", "-data", _pki.File("data.txt"), digest, "-out", _pki.File("req.tsq") };
        if (!nonce)
        {
            args.Add("-no_nonce");
        }

        if (certReq)
        {
            args.Add("-cert");
        }

        args.AddRange(extra);
        await OpenSsl.RunAsync([.. args]);

        var result = tsa.Respond(await System.IO.File.ReadAllBytesAsync(_pki.File("req.tsq")));
        await System.IO.File.WriteAllBytesAsync(_pki.File("resp.tsr"), result.Response);
        var text = await OpenSsl.RunAsync("ts", "-reply", "-in", _pki.File("resp.tsr"), "-text");
        output.WriteLine(text);
        return (result, text);
    }

    private async Task VerifyWithOpenSslAsync()
    {
        var byData = await OpenSsl.RunAsync("ts", "-verify", "-data", _pki.File("data.txt"), "-in", _pki.File("resp.tsr"),
            "-CAfile", _pki.RootPem, "-untrusted", _pki.TsaPem);
        Assert.Contains("Verification: OK", byData, StringComparison.Ordinal);

        // Against the query too: openssl then also checks the nonce, the imprint and the policy.
        var byQuery = await OpenSsl.RunAsync("ts", "-verify", "-queryfile", _pki.File("req.tsq"), "-in", _pki.File("resp.tsr"),
            "-CAfile", _pki.RootPem, "-untrusted", _pki.TsaPem);
        Assert.Contains("Verification: OK", byQuery, StringComparison.Ordinal);
    }

    private void AssertDotNetAgrees(TsaResult result, string digest)
    {
        Assert.True(Rfc3161TimestampRequest.TryDecode(System.IO.File.ReadAllBytes(_pki.File("req.tsq")), out var request, out _));
        var token = request!.ProcessResponse(result.Response, out var consumed);
        Assert.Equal(result.Response.Length, consumed);

        var data = System.IO.File.ReadAllBytes(_pki.File("data.txt"));
        var name = new HashAlgorithmName(digest[1..].ToUpperInvariant());
        var hash = name == HashAlgorithmName.SHA512 ? SHA512.HashData(data)
            : name == HashAlgorithmName.SHA384 ? SHA384.HashData(data) : SHA256.HashData(data);
        Assert.True(token.VerifySignatureForHash(hash, name, out _, [_pki.TsaCertificate]));

        var check = TimeStampVerifier.Verify(result.Token, hash, name, [_pki.TsaCertificate], [_pki.Root]);
        Assert.True(check.IsValid, check.Error);
        // .NET's GeneralizedTime reader can come back one tick short of a microsecond fraction (".651094" read as
        // .6510939); the exact DER text is checked in TimeStampAuthorityUnitTests.
        Assert.InRange((result.GenTime!.Value - check.TokenInfo!.Timestamp).Ticks, 0, 1);
        Assert.Equal(Convert.FromHexString(result.SerialNumber!), check.TokenInfo.GetSerialNumber().ToArray());
    }

    private static string Field(string text, string name)
    {
        var match = Regex.Match(text, "^" + Regex.Escape(name) + @": (.*)$", RegexOptions.Multiline);
        Assert.True(match.Success, $"'{name}' missing in:\n{text}");
        return match.Groups[1].Value.Trim();
    }
}
