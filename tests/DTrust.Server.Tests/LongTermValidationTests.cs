using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Grpc.Core;

namespace DTrust.Server.Tests;

/// <summary>
/// Signatures that stay verifiable without us (CAdES B-LT): GetValidationData hands out what a verifier would fetch,
/// openssl checks each OCSP answer, the CLI embeds it all in the .p7s, and dtrust verify reads the revocation status
/// from the file alone, still "good at signing time" after the credential is revoked.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed class LongTermValidationTests(ServerFixture fixture)
{
    private ServerProcess Server => fixture.Server;

    [Fact]
    public async Task Validation_data_verifies_with_openssl_and_a_b_lt_signature_verifies_from_the_file_alone()
    {
        using var op = DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("operator"));
        using var partner = DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("partner"));
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);
        var dir = Directory.CreateTempSubdirectory("dtrust-blt-").FullName;
        try
        {
            var data = await partner.Signing.GetValidationDataAsync(new GetValidationDataRequest { CredentialId = credential.CredentialId });
            var subjects = data.Certificates.Select(c => X509CertificateLoader.LoadCertificate(c.Span).Subject).ToList();
            Assert.Contains(X509CertificateLoader.LoadCertificate(credential.Certificate.Span).Subject, subjects);
            Assert.Contains(subjects, s => s.Contains("Time-Stamping", StringComparison.Ordinal));
            // The CA's CRL (for the credential) and the root's (for the CA and TSA certificates); openssl checks both.
            Assert.Equal(2, data.Crls.Count);
            for (var i = 0; i < data.Crls.Count; i++)
            {
                var crlPath = Path.Combine(dir, $"crl{i}.der");
                await File.WriteAllBytesAsync(crlPath, data.Crls[i].ToByteArray());
                var crl = await Tools.OpensslAsync("crl", "-inform", "DER", "-in", crlPath, "-noout", "-CAfile", Server.Pki(i == 0 ? "chain-advanced.pem" : "root.pem"));
                Assert.True(crl.ExitCode == 0, crl.StdOut + crl.StdErr);
                Assert.Contains("verify OK", crl.StdOut + crl.StdErr, StringComparison.Ordinal);
            }

            var leaf = Path.Combine(dir, "leaf.pem");
            await File.WriteAllTextAsync(leaf, X509CertificateLoader.LoadCertificate(credential.Certificate.Span).ExportCertificatePem());
            var response = Path.Combine(dir, "ocsp.der");
            await File.WriteAllBytesAsync(response, data.OcspResponses[0].ToByteArray());
            var ocsp = await Tools.OpensslAsync(
                "ocsp", "-respin", response, "-issuer", Server.Pki("ca-advanced.pem"), "-cert", leaf, "-CAfile", Server.Pki("root.pem"),
                "-verify_other", Server.Pki("chain-advanced.pem"));
            Assert.True(ocsp.ExitCode == 0, ocsp.StdOut + ocsp.StdErr);
            Assert.Contains("Response verify OK", ocsp.StdErr + ocsp.StdOut, StringComparison.Ordinal);
            Assert.Contains(": good", ocsp.StdOut, StringComparison.Ordinal);

            // Another tenant's partner: NOT_FOUND like a missing credential.
            using var other = DTrustClient.Connect(Server.GrpcAddress, apiKey: await Server.AddCallerAsync("tenant-blt", "partner"));
            await CredentialLifecycleTests.AssertRefused(StatusCode.NotFound,
                other.Signing.GetValidationDataAsync(new GetValidationDataRequest { CredentialId = credential.CredentialId }));

            // The CLI signs at B-LT: the .p7s carries certificates and revocation values as unsigned attributes.
            var doc = Path.Combine(dir, "statement.txt");
            await File.WriteAllTextAsync(doc, "annual statement 2026");
            var key = Path.Combine(Server.StateDir, "keys", "partner.key");
            var sign = await Tools.DtrustAsync(Server, key, "sign", doc, "--credential", credential.CredentialId, "--level", "B-LT",
                "--approval", "explicit", "--otp-from-outbox", "--pin", SigningFlowTests.Pin);
            Assert.True(sign.ExitCode == 0, sign.StdOut + sign.StdErr);
            Assert.Matches(@"statement\.txt +B-LT +20\d\d-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", sign.StdOut);
            var cms = new SignedCms(new ContentInfo(await File.ReadAllBytesAsync(doc)), detached: true);
            cms.Decode(await File.ReadAllBytesAsync(doc + ".p7s"));
            cms.CheckSignature(verifySignatureOnly: true);
            var unsigned = cms.SignerInfos[0].UnsignedAttributes.Cast<CryptographicAttributeObject>().Select(a => a.Oid.Value).ToList();
            Assert.Contains("1.2.840.113549.1.9.16.2.14", unsigned);
            Assert.Contains("1.2.840.113549.1.9.16.2.23", unsigned);
            Assert.Contains("1.2.840.113549.1.9.16.2.24", unsigned);
            var openssl = await Tools.OpensslAsync(
                "cms", "-verify", "-binary", "-content", doc, "-inform", "DER", "-in", doc + ".p7s", "-CAfile", Server.Pki("root.pem"), "-out", "/dev/null");
            Assert.True(openssl.ExitCode == 0, openssl.StdErr);

            var verified = await Tools.DtrustAsync(Server, key, "verify", doc, doc + ".p7s", "--ca", Server.Pki("root.pem"));
            Assert.True(verified.ExitCode == 0, verified.StdOut + verified.StdErr);
            Assert.Contains("level          B-LT", verified.StdOut, StringComparison.Ordinal);
            Assert.Contains("missing (LTV)  nothing", verified.StdOut, StringComparison.Ordinal);
            Assert.Contains("revocation OK  good at", verified.StdOut, StringComparison.Ordinal);

            // A signature without validation data inside says so (here the B-LT one stripped to B-T).
            var signer = cms.SignerInfos[0];
            signer.RemoveUnsignedAttribute(signer.UnsignedAttributes.Cast<CryptographicAttributeObject>().First(a => a.Oid.Value == "1.2.840.113549.1.9.16.2.24").Values[0]);
            signer.RemoveUnsignedAttribute(signer.UnsignedAttributes.Cast<CryptographicAttributeObject>().First(a => a.Oid.Value == "1.2.840.113549.1.9.16.2.23").Values[0]);
            await File.WriteAllBytesAsync(doc + ".bt.p7s", cms.Encode());
            var good = await Tools.DtrustAsync(Server, key, "verify", doc, doc + ".bt.p7s", "--ca", Server.Pki("root.pem"));
            Assert.True(good.ExitCode == 0, good.StdOut + good.StdErr);
            Assert.Contains("revocation OK  good at", good.StdOut, StringComparison.Ordinal);
            Assert.Contains("(online OCSP, signature verified, responder chains to the root)", good.StdOut, StringComparison.Ordinal);

            // Revoked afterwards: the embedded answer still says what was true at signing time.
            await op.Credentials.RevokeCredentialAsync(new RevokeCredentialRequest { CredentialId = credential.CredentialId });
            var later = await Tools.DtrustAsync(Server, key, "verify", doc, doc + ".p7s", "--ca", Server.Pki("root.pem"));
            Assert.True(later.ExitCode == 0, later.StdOut + later.StdErr);

            var bt = await Tools.DtrustAsync(Server, key, "verify", doc, doc + ".bt.p7s", "--ca", Server.Pki("root.pem"), "--offline");
            Assert.True(bt.ExitCode == 0, bt.StdOut + bt.StdErr);
            Assert.Contains("revocation     not checked (--offline; no validation data embedded)", bt.StdOut, StringComparison.Ordinal);
            Assert.Contains("level          B-T", bt.StdOut, StringComparison.Ordinal);

            // Online by default: the certificate's responder says it is revoked now, and verify fails.
            string online = "";
            for (var i = 0; i < 50 && !online.Contains("revocation FAILED  revoked", StringComparison.Ordinal); i++)
            {
                var asked = await Tools.DtrustAsync(Server, key, "verify", doc, doc + ".bt.p7s", "--ca", Server.Pki("root.pem"));
                online = asked.StdOut + asked.StdErr + $"exit {asked.ExitCode}";
                await Task.Delay(200);
            }

            Assert.Contains("revocation FAILED  revoked at", online, StringComparison.Ordinal);
            Assert.Contains("online OCSP, signature verified, responder chains to the root", online, StringComparison.Ordinal);
            Assert.EndsWith("exit 1", online, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
