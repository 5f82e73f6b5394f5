using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;
using Grpc.Core;

namespace DTrust.Server.Tests;

/// <summary>
/// Passkeys as the second factor on the holder's page: pairing from an operator's link, approval over the exact
/// transaction, the evidence re-verified offline, and each attack refused without a signature. The assertions come
/// from <see cref="SoftAuthenticator"/> (which can lie); the browser tests use chromium's authenticator.
/// </summary>
[Collection(HolderServerGroup.Name)]
public sealed class PasskeyApprovalTests(HolderServerFixture fixture)
{
    private const string Pin = SigningFlowTests.Pin;

    private ServerProcess Server => fixture.Server;

    private DTrustClient Operator() => DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("operator"));

    private DTrustClient Partner() => DTrustClient.Connect(Server.GrpcAddress, apiKey: fixture.PartnerKey);

    /// <summary>Pairs the authenticator for the credential's holder through the operator's link and the pairing page.</summary>
    internal static async Task PairAsync(ServerProcess server, DTrustClient op, string userId, SoftAuthenticator authenticator)
    {
        var link = await op.Credentials.CreatePairingLinkAsync(new CreatePairingLinkRequest { UserId = userId });
        using var page = new HolderPage(new Uri(link.Url));
        Assert.Equal(HttpStatusCode.OK, await page.OpenAsync());
        var (status, options) = await page.ScriptPostAsync(page.Url.AbsolutePath + "/options", []);
        Assert.True(status == HttpStatusCode.OK, options);
        Assert.Equal("required", JsonDocument.Parse(options).RootElement.GetProperty("authenticatorSelection").GetProperty("userVerification").GetString());
        var (done, answer) = await page.ScriptPostAsync(page.Url.AbsolutePath + "/finish", new() { ["attestation"] = authenticator.Attest(options), ["name"] = "Test phone" });
        Assert.True(done == HttpStatusCode.OK, answer);

        // The link pairs once.
        Assert.Equal(HttpStatusCode.NotFound, await new HolderPage(new Uri(link.Url)).OpenAsync());
    }

    private static async Task<(Credential Credential, ByteString[] Hashes, AuthorizeSignatureResponse Authorization, HolderPage Page)> PendingAsync(
        DTrustClient op, DTrustClient partner, Level level = Level.Qualified)
    {
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, level);
        var hashes = SigningFlowTests.Hashes(2, HashAlgorithmName.SHA256);
        var authorization = await partner.Signing.AuthorizeSignatureAsync(HolderApprovalTests.HolderRequest(credential, hashes));
        return (credential, hashes, authorization, new HolderPage(new Uri(authorization.ApprovalUrl)));
    }

    private static async Task<(HttpStatusCode Status, string Json)> AnswerAsync(HolderPage page, Func<string, string> assertion, string pin = Pin)
    {
        var (status, options) = await page.ScriptPostAsync(page.Url.AbsolutePath + "/passkey/options", []);
        Assert.True(status == HttpStatusCode.OK, options);
        return await page.ScriptPostAsync(page.Url.AbsolutePath + "/passkey", new() { ["pin"] = pin, ["assertion"] = assertion(options) });
    }

    private static async Task<string> UserOfAsync(DTrustClient op, Credential credential) =>
        (await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId })).UserId;

    [Fact]
    public async Task A_paired_passkey_approves_the_transaction_and_the_evidence_verifies_offline()
    {
        using var op = Operator();
        using var partner = Partner();
        var (credential, hashes, authorization, page) = await PendingAsync(op, partner);
        using var authenticator = new SoftAuthenticator(Server.HolderAddress);
        await PairAsync(Server, op, await UserOfAsync(op, credential), authenticator);
        var listed = await op.Credentials.ListPasskeysAsync(new ListPasskeysRequest { UserId = await UserOfAsync(op, credential) });
        Assert.Equal(authenticator.Id, Assert.Single(listed.Passkeys).PasskeyId);

        // The new device was announced to the holder's phone and audited.
        Assert.Contains("passkey was added", await ServerProcess.OutboxTextAsync(Server.StateDir, "passkey"), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.OK, await page.OpenAsync());
        Assert.Contains("Approve with passkey", page.Html, StringComparison.Ordinal);
        var (status, json) = await AnswerAsync(page, o => authenticator.Assert(o));
        Assert.True(status == HttpStatusCode.OK, json);

        var approved = await partner.Signing.GetAuthorizationAsync(new GetAuthorizationRequest
        {
            CredentialId = credential.CredentialId,
            AuthorizationId = authorization.AuthorizationId,
        });
        Assert.Equal((AuthorizationState.Approved, "passkey"), (approved.State, approved.Factor));
        var signed = await partner.Signing.SignHashAsync(HolderApprovalTests.SadRequest(credential, authorization.AuthorizationId, approved.Sad, hashes));
        Assert.Equal(2, signed.Signatures.Count);

        // What an auditor does without the server: the device's signature over the authenticator data and the
        // client data, whose challenge is SHA-256(label ‖ nonce ‖ the canonical transaction the audit keeps).
        var approval = Tools.LatestAuditDetails(Server, credential.CredentialId, "signature.created").GetProperty("approval");
        var evidence = approval.GetProperty("evidence");
        var transaction = Encoding.UTF8.GetBytes(approval.GetProperty("transaction").GetString()!);
        var expected = SHA256.HashData([
            .. "DTrust passkey approval v1\n"u8.ToArray(), .. Convert.FromBase64String(evidence.GetProperty("nonce").GetString()!), .. transaction]);
        var clientData = Convert.FromBase64String(evidence.GetProperty("client_data_json").GetString()!);
        Assert.Equal(SoftAuthenticator.B64Url(expected), JsonDocument.Parse(clientData).RootElement.GetProperty("challenge").GetString());
        var authData = Convert.FromBase64String(evidence.GetProperty("authenticator_data").GetString()!);
        var cose = new System.Formats.Cbor.CborReader(Convert.FromBase64String(evidence.GetProperty("public_key").GetString()!));
        byte[] x = [], y = [];
        var entries = cose.ReadStartMap();
        for (var i = 0; i < entries; i++)
        {
            var label = cose.ReadInt32();
            if (label == -2)
            {
                x = cose.ReadByteString();
            }
            else if (label == -3)
            {
                y = cose.ReadByteString();
            }
            else
            {
                cose.SkipValue();
            }
        }

        using var device = ECDsa.Create(new ECParameters { Curve = ECCurve.NamedCurves.nistP256, Q = new ECPoint { X = x, Y = y } });
        byte[] signedData = [.. authData, .. SHA256.HashData(clientData)];
        Assert.True(device.VerifyData(
            signedData, Convert.FromBase64String(evidence.GetProperty("signature").GetString()!),
            HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
        Assert.Contains(Convert.ToHexStringLower(hashes[1].Span), Encoding.UTF8.GetString(transaction), StringComparison.Ordinal);

        // The same with the CLI an auditor runs: exported once from the server, then checked from the file alone.
        var dir = Directory.CreateTempSubdirectory("dtrust-evidence").FullName;
        try
        {
            var key = Path.Combine(Server.StateDir, "keys", "operator.key");
            var export = Path.Combine(dir, "entries.json");
            var online = await Tools.DtrustAsync(Server, key, "audit", "evidence", "--credential", credential.CredentialId, "--export", export);
            Assert.True(online.ExitCode == 0, online.StdOut + online.StdErr);
            Assert.Contains("device signature verified", online.StdOut, StringComparison.Ordinal);
            Assert.Contains("2 signature entries: evidence verified", online.StdOut, StringComparison.Ordinal);
            var offline = await ProcessRunner.RunAsync("dotnet", [Tools.CliDll, "audit", "evidence", "--file", export]);
            Assert.True(offline.ExitCode == 0, offline.StdOut + offline.StdErr);

            // One changed byte in what the holder was shown: the challenge no longer matches, the check fails.
            var text = await File.ReadAllTextAsync(export);
            await File.WriteAllTextAsync(export, text.Replace("contract-1.pdf", "contract-9.pdf", StringComparison.Ordinal));
            var tampered = await ProcessRunner.RunAsync("dotnet", [Tools.CliDll, "audit", "evidence", "--file", export]);
            Assert.Equal(1, tampered.ExitCode);
            Assert.Contains("FAILED: the client data's challenge is not the digest of this transaction", tampered.StdOut, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task No_user_verification_another_origin_a_cross_origin_frame_or_a_replay_approves_nothing()
    {
        using var op = Operator();
        using var partner = Partner();
        var (credential, hashes, authorization, page) = await PendingAsync(op, partner);
        using var authenticator = new SoftAuthenticator(Server.HolderAddress);
        await PairAsync(Server, op, await UserOfAsync(op, credential), authenticator);
        await page.OpenAsync();

        foreach (var lie in new Func<string, string>[]
        {
            o => authenticator.Assert(o, userVerified: false),
            o => authenticator.Assert(o, origin: "http://evil.localhost:1"),
            o => authenticator.Assert(o, crossOrigin: true),
        })
        {
            var (status, json) = await AnswerAsync(page, lie);
            Assert.Equal(HttpStatusCode.BadRequest, status);
            Assert.Contains("passkey", json, StringComparison.OrdinalIgnoreCase);
        }

        // Three wrong answers void the request (like three wrong codes); a new authorization for the replay test.
        var second = await partner.Signing.AuthorizeSignatureAsync(HolderApprovalTests.HolderRequest(credential, hashes));
        var secondPage = new HolderPage(new Uri(second.ApprovalUrl));
        await secondPage.OpenAsync();
        var (_, options) = await secondPage.ScriptPostAsync(secondPage.Url.AbsolutePath + "/passkey/options", []);
        var honest = authenticator.Assert(options);

        // The honest assertion for the second request, presented on a third (other hashes): its challenge is not that
        // request's, so it approves nothing there.
        var third = await partner.Signing.AuthorizeSignatureAsync(HolderApprovalTests.HolderRequest(credential, SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256)));
        var thirdPage = new HolderPage(new Uri(third.ApprovalUrl));
        await thirdPage.OpenAsync();
        var (moved, _) = await AnswerAsync(thirdPage, _ => honest);
        Assert.Equal(HttpStatusCode.BadRequest, moved);

        // Used where it belongs, it approves once; replayed, it meets no open request.
        var (ok, answer) = await secondPage.ScriptPostAsync(secondPage.Url.AbsolutePath + "/passkey", new() { ["pin"] = Pin, ["assertion"] = honest });
        Assert.True(ok == HttpStatusCode.OK, answer);
        var (replayed, _) = await secondPage.ScriptPostAsync(secondPage.Url.AbsolutePath + "/passkey", new() { ["pin"] = Pin, ["assertion"] = honest });
        Assert.Equal(HttpStatusCode.BadRequest, replayed);

        var first = await partner.Signing.GetAuthorizationAsync(new GetAuthorizationRequest
        {
            CredentialId = credential.CredentialId,
            AuthorizationId = authorization.AuthorizationId,
        });
        Assert.Equal(AuthorizationState.Pending, first.State);
        Assert.Equal(0, Tools.AuditCount(Server, credential.CredentialId, "signature.created"));
        Assert.True(Tools.AuditCount(Server, credential.CredentialId, "signature.approve") >= 4);
    }

    [Fact]
    public async Task A_removed_device_and_a_synced_passkey_for_qualified_approve_nothing()
    {
        using var op = Operator();
        using var partner = Partner();
        var (credential, _, authorization, page) = await PendingAsync(op, partner);
        var user = await UserOfAsync(op, credential);
        using var removed = new SoftAuthenticator(Server.HolderAddress);
        using var synced = new SoftAuthenticator(Server.HolderAddress, backupEligible: true);
        await PairAsync(Server, op, user, removed);
        await PairAsync(Server, op, user, synced);
        await op.Credentials.RemovePasskeyAsync(new RemovePasskeyRequest { UserId = user, PasskeyId = removed.Id });
        Assert.Contains("passkey was removed", await ServerProcess.OutboxTextAsync(Server.StateDir, "passkey"), StringComparison.Ordinal);

        // Only a synced passkey is left, which QUALIFIED refuses by default: the page falls back to the SMS code.
        await page.OpenAsync();
        Assert.DoesNotContain("Approve with passkey", page.Html, StringComparison.Ordinal);
        var (refused, json) = await page.ScriptPostAsync(page.Url.AbsolutePath + "/passkey/options", []);
        Assert.Equal(HttpStatusCode.BadRequest, refused);

        var status = await partner.Signing.GetAuthorizationAsync(new GetAuthorizationRequest
        {
            CredentialId = credential.CredentialId,
            AuthorizationId = authorization.AuthorizationId,
        });
        Assert.Equal(AuthorizationState.Pending, status.State);
        Assert.Contains("passkey", json, StringComparison.OrdinalIgnoreCase);

        // ADVANCED accepts a synced passkey; a device removed since pairing is refused.
        var (advanced, _, _, advancedPage) = await PendingAsync(op, partner, Level.Advanced);
        var advancedUser = await UserOfAsync(op, advanced);
        using var dropped = new SoftAuthenticator(Server.HolderAddress);
        using var kept = new SoftAuthenticator(Server.HolderAddress, backupEligible: true);
        await PairAsync(Server, op, advancedUser, dropped);
        await PairAsync(Server, op, advancedUser, kept);
        await op.Credentials.RemovePasskeyAsync(new RemovePasskeyRequest { UserId = advancedUser, PasskeyId = dropped.Id });
        await advancedPage.OpenAsync();
        var (gone, _) = await AnswerAsync(advancedPage, o => dropped.Assert(o));
        Assert.Equal(HttpStatusCode.BadRequest, gone);
        var (fine, answer) = await AnswerAsync(advancedPage, o => kept.Assert(o));
        Assert.True(fine == HttpStatusCode.OK, answer);
    }
}
