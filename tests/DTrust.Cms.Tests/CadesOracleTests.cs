using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using DTrust.Cms;
using DTrust.SigningServer.Signing;
using DTrust.Testing;
using Xunit.Abstractions;

namespace DTrust.Cms.Tests;

/// <summary>
/// Verifiers nobody here wrote: openssl 3.0 (cms -verify, ts -verify) and PKI.js (tests/peers/node/verify_cms.js).
/// Both verify the chain up to the test root; the intermediate CA comes from the CMS certificates.
/// </summary>
[Collection(SharedPki.Name)]
public sealed class CadesOracleTests(PkiFixture fixture, ITestOutputHelper output)
{
    private readonly TestPki _pki = fixture.Pki;

    public static TheoryData<SignerCase, CmsAttributeProfile> AllCasesAndProfiles() => CadesBuilderUnitTests.AllCasesAndProfiles();

    public static TheoryData<SignerCase> AllCases() => CadesBuilderUnitTests.AllCases();

    [Theory]
    [MemberData(nameof(AllCasesAndProfiles))]
    public async Task Openssl_cms_verifies_the_detached_signature_and_chain(SignerCase signerCase, CmsAttributeProfile profile)
    {
        var sample = CmsSample.Create(_pki, _pki.Signers[signerCase], profile);
        var (data, p7s) = sample.Write(_pki, $"{signerCase}-{profile}");

        var result = await OpenSslCmsVerifyAsync(data, p7s);
        Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
        Assert.Contains("Verification successful", result.StdErr, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(AllCasesAndProfiles))]
    public async Task PkiJs_verifies_the_detached_signature_and_chain(SignerCase signerCase, CmsAttributeProfile profile)
    {
        var sample = CmsSample.Create(_pki, _pki.Signers[signerCase], profile);
        var (data, p7s) = sample.Write(_pki, $"pkijs-{signerCase}-{profile}");

        var result = await PkiJsPeer.VerifyAsync(p7s, data, root: _pki.RootPem);
        output.WriteLine(result.ToString());
        Assert.True(result.GetProperty("signatureVerified").GetBoolean());
        Assert.True(result.GetProperty("chainVerified").GetBoolean());
        Assert.True(result.GetProperty("detached").GetBoolean());
        Assert.True(result.GetProperty("hasSigningCertificateV2").GetBoolean());
        Assert.Equal(profile == CmsAttributeProfile.Cades, result.GetProperty("hasSigningTime").GetBoolean());
        Assert.False(result.GetProperty("hasTimestamp").GetBoolean());
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public async Task B_T_signature_and_its_time_stamp_verify_with_openssl_and_PkiJs(SignerCase signerCase)
    {
        var sample = CmsSample.Create(_pki, _pki.Signers[signerCase], CmsAttributeProfile.Cades, timestamp: true);
        var (data, p7s) = sample.Write(_pki, $"bt-{signerCase}");

        var cms = await OpenSslCmsVerifyAsync(data, p7s);
        Assert.True(cms.ExitCode == 0, cms.StdErr + cms.StdOut);

        // The token as embedded in the CMS (not the one the TSA handed out), and the imprint from the CMS too.
        var signedCms = new SignedCms(new ContentInfo(sample.Content), detached: true);
        signedCms.Decode(sample.Cms);
        var signerInfo = signedCms.SignerInfos[0];
        var token = _pki.File($"bt-{signerCase}.tst");
        await File.WriteAllBytesAsync(token, signerInfo.UnsignedAttributes[0].Values[0].RawData);
        var imprint = Convert.ToHexString(SHA256.HashData(signerInfo.GetSignature()));
        var ts = await ProcessRunner.RunAsync("openssl", ["ts", "-verify", "-digest", imprint, "-in", token, "-token_in",
            "-CAfile", _pki.TsaRootPem, "-untrusted", _pki.TsaPem]);
        output.WriteLine(ts.StdOut + ts.StdErr);
        Assert.True(ts.ExitCode == 0, ts.StdErr + ts.StdOut);
        Assert.Contains("Verification: OK", ts.StdOut, StringComparison.Ordinal);

        var pkijs = await PkiJsPeer.VerifyAsync(p7s, data, root: _pki.RootPem, tsaCertificate: _pki.TsaPem);
        output.WriteLine(pkijs.ToString());
        Assert.True(pkijs.GetProperty("signatureVerified").GetBoolean());
        Assert.True(pkijs.GetProperty("hasTimestamp").GetBoolean());
        Assert.True(pkijs.GetProperty("timestampImprintMatches").GetBoolean());
        Assert.True(pkijs.GetProperty("timestampSignatureVerified").GetBoolean());
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public async Task Tampered_content_fails_openssl_and_PkiJs(SignerCase signerCase)
    {
        var sample = CmsSample.Create(_pki, _pki.Signers[signerCase], CmsAttributeProfile.Cades);
        sample.Content[0] ^= 0x01;
        var (data, p7s) = sample.Write(_pki, $"tampered-{signerCase}");

        var result = await OpenSslCmsVerifyAsync(data, p7s);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("Verification failure", result.StdErr, StringComparison.Ordinal);

        var pkijs = await PkiJsPeer.VerifyAsync(p7s, data, root: _pki.RootPem, expectSuccess: false);
        Assert.False(pkijs.GetProperty("ok").GetBoolean());
        Assert.Contains("Message digest doesn't match", pkijs.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_time_stamp_over_something_else_fails_openssl_and_PkiJs()
    {
        var signer = _pki.Signers[SignerCase.EcdsaP256Sha256];
        var builder = new CadesBuilder(signer.Certificate, [_pki.IssuingCa]);
        var content = "document"u8.ToArray();
        var attributes = builder.Prepare(signer.Hash, SHA256.HashData(content), CmsAttributeProfile.Cades, DateTimeOffset.UtcNow);
        var signature = signer.SignDigest(attributes.DigestToSign.Span);
        // Stamped over the document hash instead of the signature value.
        var wrong = _pki.Tsa().Timestamp(HashAlgorithmName.SHA256, SHA256.HashData(content)).Token.ToArray();
        var data = _pki.File("wrong-stamp.bin");
        var p7s = _pki.File("wrong-stamp.p7s");
        var token = _pki.File("wrong-stamp.tst");
        await File.WriteAllBytesAsync(data, content);
        await File.WriteAllBytesAsync(p7s, builder.Complete(attributes, signer.Scheme, signature, wrong));
        await File.WriteAllBytesAsync(token, wrong);

        var ts = await ProcessRunner.RunAsync("openssl", ["ts", "-verify", "-digest",
            Convert.ToHexString(CadesBuilder.SignatureTimeStampImprint(HashAlgorithmName.SHA256, signature)),
            "-in", token, "-token_in", "-CAfile", _pki.TsaRootPem, "-untrusted", _pki.TsaPem]);
        Assert.NotEqual(0, ts.ExitCode);

        var pkijs = await PkiJsPeer.VerifyAsync(p7s, data, root: _pki.RootPem, tsaCertificate: _pki.TsaPem,
            expectSuccess: false);
        Assert.True(pkijs.GetProperty("signatureVerified").GetBoolean());
        Assert.False(pkijs.GetProperty("timestampImprintMatches").GetBoolean());
    }

    /// <summary>openssl's default purpose for cms -verify is smimesign; no -purpose override is given.</summary>
    private Task<ProcessRunner.Result> OpenSslCmsVerifyAsync(string data, string p7s) =>
        ProcessRunner.RunAsync("openssl", ["cms", "-verify", "-binary", "-content", data, "-inform", "DER", "-in", p7s,
            "-CAfile", _pki.RootPem, "-out", "/dev/null"]);
}
