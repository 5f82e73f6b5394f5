using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;
using Grpc.Core;
using HashAlgorithm = DTrust.Signing.V1.HashAlgorithm;

namespace DTrust.Server.Tests;

/// <summary>A server with the default policy: QUALIFIED signs only through the holder's page.</summary>
public sealed class HolderServerFixture : IAsyncLifetime
{
    private ServerProcess? _server;

    public ServerProcess Server => _server ?? throw new InvalidOperationException("not started");

    /// <summary>A partner of the dev tenant with a registered return URL.</summary>
    public string PartnerKey { get; private set; } = "";

    /// <summary>That partner's caller id (OAuth's client_id on the CSC API).</summary>
    public string PartnerId { get; private set; } = "";

    public const string ReturnUrl = "http://localhost:9/after-signing";

    public async Task InitializeAsync()
    {
        _server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["DTrust__Signing__ExplicitQualified"] = "false",

            // The attack tests open many requests and page challenges for one credential within a minute.
            ["DTrust__Signing__ChallengesPerMinute"] = "50",
        });
        using var op = DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("operator"));
        var request = new CreateCallerRequest { Name = "Loan Platform GmbH", Role = CallerRole.Partner };
        request.ReturnUrls.Add(ReturnUrl);
        var created = await op.Credentials.CreateCallerAsync(request);
        PartnerKey = created.ApiKey;
        PartnerId = created.Caller.CallerId;
    }

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class HolderServerGroup : ICollectionFixture<HolderServerFixture>
{
    public const string Name = "holder-server";
}

/// <summary>
/// Holder approval end to end over the wire: the partner asks, the holder approves on our page with PIN and SMS code
/// (driven over HTTP here; the browser tests drive it in chromium), the partner signs with the SAD. And every way
/// around it, each without a signature.
/// </summary>
[Collection(HolderServerGroup.Name)]
public sealed class HolderApprovalTests(HolderServerFixture fixture)
{
    private const string Pin = SigningFlowTests.Pin;

    private ServerProcess Server => fixture.Server;

    private DTrustClient Operator() => DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("operator"));

    private DTrustClient Partner() => DTrustClient.Connect(Server.GrpcAddress, apiKey: fixture.PartnerKey);

    internal static AuthorizeSignatureRequest HolderRequest(Credential c, ByteString[] hashes, string? returnUrl = null)
    {
        var r = new AuthorizeSignatureRequest
        {
            CredentialId = c.CredentialId,
            HashAlgorithm = HashAlgorithm.Sha256,
            Description = "Loan agreement 42",
            Mode = AuthorizationMode.HolderApproval,
            ReturnUrl = returnUrl ?? "",
            State = returnUrl is null ? "" : "xyz-123",
        };
        r.Hashes.AddRange(hashes);
        r.Labels.AddRange(hashes.Select((_, i) => $"contract-{i + 1}.pdf"));
        return r;
    }

    internal static SignHashRequest SadRequest(Credential c, string authorizationId, string sad, ByteString[] hashes, SignatureFormat format = SignatureFormat.CmsDetached)
    {
        var r = new SignHashRequest
        {
            CredentialId = c.CredentialId,
            AuthorizationId = authorizationId,
            Sad = sad,
            HashAlgorithm = HashAlgorithm.Sha256,
            SignatureFormat = format,
            Timestamp = true,
        };
        r.Hashes.AddRange(hashes);
        return r;
    }

    /// <summary>Opens the page, reads the SMS code the page sent, approves; returns the page for inspection.</summary>
    private async Task<HolderPage> ApproveOnPageAsync(AuthorizeSignatureResponse authorization, string pin = Pin)
    {
        var page = new HolderPage(new Uri(authorization.ApprovalUrl));
        var opened = await page.OpenAsync();
        Assert.True(opened == HttpStatusCode.OK, $"{opened}: {page.Html}\n{Server.Log[^Math.Min(4000, Server.Log.Length)..]}");
        var code = await ServerProcess.OutboxCodeAsync(Server.StateDir, authorization.AuthorizationId);
        await page.ApproveAsync(pin, code);
        return page;
    }

    [Fact]
    public async Task Qualified_signs_after_the_holder_approves_on_our_page_and_the_cms_verifies()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = SigningFlowTests.Hashes(2, HashAlgorithmName.SHA256);

        // Explicit mode (PIN and code through the partner) is not sole control: refused for QUALIFIED by default.
        var relayed = await Assert.ThrowsAsync<RpcException>(() =>
            partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes)).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, relayed.StatusCode);
        Assert.Contains("HOLDER_APPROVAL", relayed.Status.Detail, StringComparison.Ordinal);

        var authorization = await partner.Signing.AuthorizeSignatureAsync(HolderRequest(credential, hashes));
        Assert.Equal(AuthorizationState.Pending, authorization.State);
        Assert.StartsWith(Server.HolderAddress + "approve/", authorization.ApprovalUrl, StringComparison.Ordinal);
        Assert.Empty(authorization.ChallengeId);

        // The link went to the holder's phone; the token in it is 256 bits.
        var sms = await ServerProcess.OutboxTextAsync(Server.StateDir, authorization.AuthorizationId);
        Assert.Contains(authorization.ApprovalUrl, sms, StringComparison.Ordinal);
        Assert.True(authorization.ApprovalUrl.Split('.').Last().Length >= 43);

        var page = new HolderPage(new Uri(authorization.ApprovalUrl));
        Assert.Equal(HttpStatusCode.OK, await page.OpenAsync());
        Assert.Contains("Loan Platform GmbH asks you to sign", page.Html, StringComparison.Ordinal);
        Assert.Contains("contract-2.pdf", page.Html, StringComparison.Ordinal);
        Assert.Contains("Qualified electronic signature", page.Html, StringComparison.Ordinal);
        Assert.Contains(Convert.ToHexString(hashes[0].Span[..2]), page.Html, StringComparison.Ordinal);
        var csp = page.Last!.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        Assert.Equal("DENY", page.Last.Headers.GetValues("X-Frame-Options").Single());

        var pending = await partner.Signing.GetAuthorizationAsync(new GetAuthorizationRequest
        {
            CredentialId = credential.CredentialId,
            AuthorizationId = authorization.AuthorizationId,
        });
        Assert.Equal((AuthorizationState.Pending, ""), (pending.State, pending.Sad));

        var code = await ServerProcess.OutboxCodeAsync(Server.StateDir, authorization.AuthorizationId);
        Assert.Equal(HttpStatusCode.OK, await page.ApproveAsync(Pin, code));
        Assert.Contains("Approved", page.Html, StringComparison.Ordinal);

        var approved = await partner.Signing.GetAuthorizationAsync(new GetAuthorizationRequest
        {
            CredentialId = credential.CredentialId,
            AuthorizationId = authorization.AuthorizationId,
        });
        Assert.Equal((AuthorizationState.Approved, "sms"), (approved.State, approved.Factor));
        Assert.True(approved.Sad.Length >= 43);

        var signed = await partner.Signing.SignHashAsync(SadRequest(credential, authorization.AuthorizationId, approved.Sad, hashes));
        Assert.Equal(2, signed.Signatures.Count);
        for (var i = 0; i < 2; i++)
        {
            var cms = new SignedCms(new ContentInfo(hashes[i].ToByteArray()), detached: true);
            cms.Decode(signed.Signatures[i].ToByteArray());
            Assert.Equal(signed.CertificateChain[0].ToByteArray(), cms.SignerInfos[0].Certificate!.RawData);
        }

        // The audit of each signature carries the approval: the transaction shown and the factor.
        var details = Tools.LatestAuditDetails(Server, credential.CredentialId, "signature.created");
        Assert.Equal("sms", details.GetProperty("approval").GetProperty("factor").GetString());
        Assert.Contains("contract-1.pdf", details.GetProperty("approval").GetProperty("transaction").GetString(), StringComparison.Ordinal);

        // Once only, on any node: the SAD is spent.
        var again = await Assert.ThrowsAsync<RpcException>(() =>
            partner.Signing.SignHashAsync(SadRequest(credential, authorization.AuthorizationId, approved.Sad, hashes)).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, again.StatusCode);
        var used = await partner.Signing.GetAuthorizationAsync(new GetAuthorizationRequest
        {
            CredentialId = credential.CredentialId,
            AuthorizationId = authorization.AuthorizationId,
        });
        Assert.Equal((AuthorizationState.Used, ""), (used.State, used.Sad));

        // The link is one-time: decided, it opens nothing.
        Assert.Equal(HttpStatusCode.NotFound, await new HolderPage(new Uri(authorization.ApprovalUrl)).OpenAsync());
    }

    [Fact]
    public async Task A_return_url_gets_a_single_use_code_that_only_the_same_partner_exchanges()
    {
        using var op = Operator();
        using var partner = Partner();
        using var otherPartner = DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("partner"));
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);

        var unregistered = await Assert.ThrowsAsync<RpcException>(() =>
            partner.Signing.AuthorizeSignatureAsync(HolderRequest(credential, hashes, "https://evil.example/steal")).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, unregistered.StatusCode);

        var request = HolderRequest(credential, hashes, HolderServerFixture.ReturnUrl);
        request.PartnerRedirects = true;
        var authorization = await partner.Signing.AuthorizeSignatureAsync(request);
        var page = await ApproveOnPageAsync(authorization);
        Assert.Equal(HttpStatusCode.Redirect, page.Last!.StatusCode);
        var location = page.Last.Headers.Location!;
        Assert.StartsWith(HolderServerFixture.ReturnUrl + "?code=", location.ToString(), StringComparison.Ordinal);
        Assert.Contains("state=xyz-123", location.Query, StringComparison.Ordinal);
        var code = System.Web.HttpUtility.ParseQueryString(location.Query)["code"]!;

        // Another partner cannot redeem it, and that attempt spends it: the code is single use.
        var stolen = await Assert.ThrowsAsync<RpcException>(() =>
            otherPartner.Signing.ExchangeApprovalCodeAsync(new ExchangeApprovalCodeRequest { Code = code }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, stolen.StatusCode);
        var gone = await Assert.ThrowsAsync<RpcException>(() =>
            partner.Signing.ExchangeApprovalCodeAsync(new ExchangeApprovalCodeRequest { Code = code }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);

        // A fresh one works for the partner that asked.
        var second = await partner.Signing.AuthorizeSignatureAsync(request);
        var secondPage = await ApproveOnPageAsync(second);
        var secondCode = System.Web.HttpUtility.ParseQueryString(secondPage.Last!.Headers.Location!.Query)["code"]!;
        var status = await partner.Signing.ExchangeApprovalCodeAsync(new ExchangeApprovalCodeRequest { Code = secondCode });
        Assert.Equal(AuthorizationState.Approved, status.State);
        var signed = await partner.Signing.SignHashAsync(SadRequest(credential, second.AuthorizationId, status.Sad, hashes, SignatureFormat.Raw));
        Assert.Single(signed.Signatures);
    }

    [Fact]
    public async Task Watch_streams_the_state_until_the_holder_decides()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
        var authorization = await partner.Signing.AuthorizeSignatureAsync(HolderRequest(credential, hashes));
        using var watch = partner.Signing.WatchAuthorization(new GetAuthorizationRequest
        {
            CredentialId = credential.CredentialId,
            AuthorizationId = authorization.AuthorizationId,
        });
        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(AuthorizationState.Pending, watch.ResponseStream.Current.State);

        var page = new HolderPage(new Uri(authorization.ApprovalUrl));
        await page.OpenAsync();
        Assert.Equal(HttpStatusCode.OK, await page.RejectAsync());
        Assert.Contains("Rejected", page.Html, StringComparison.Ordinal);

        Assert.True(await watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(AuthorizationState.Rejected, watch.ResponseStream.Current.State);
        Assert.False(await watch.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(1, Tools.AuditCount(Server, credential.CredentialId, "signature.rejected"));
    }

    [Fact]
    public async Task Nothing_signs_without_the_approval_of_exactly_these_hashes_by_this_partner()
    {
        using var op = Operator();
        using var partner = Partner();
        using var otherPartner = DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("partner"));
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = SigningFlowTests.Hashes(2, HashAlgorithmName.SHA256);
        var authorization = await partner.Signing.AuthorizeSignatureAsync(HolderRequest(credential, hashes));
        var get = new GetAuthorizationRequest { CredentialId = credential.CredentialId, AuthorizationId = authorization.AuthorizationId };

        // Not approved yet: no SAD exists, a guessed one signs nothing.
        var early = await Assert.ThrowsAsync<RpcException>(() =>
            partner.Signing.SignHashAsync(SadRequest(credential, authorization.AuthorizationId, "guess", hashes)).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, early.StatusCode);

        // Another partner of the same tenant sees nothing of it.
        var foreign = await Assert.ThrowsAsync<RpcException>(() => otherPartner.Signing.GetAuthorizationAsync(get).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, foreign.StatusCode);

        // A form without the page's anti-forgery token is refused.
        var page = new HolderPage(new Uri(authorization.ApprovalUrl));
        await page.OpenAsync();
        var code = await ServerProcess.OutboxCodeAsync(Server.StateDir, authorization.AuthorizationId);
        Assert.Equal(HttpStatusCode.BadRequest, await page.PostAsync(page.Url, new() { ["pin"] = Pin, ["code"] = code, ["factor"] = "sms" }, withToken: false));

        await page.ApproveAsync(Pin, code);
        var sad = (await partner.Signing.GetAuthorizationAsync(get)).Sad;

        // The SAD of this partner's approval, presented by another partner: not found, and nothing spent.
        var stolen = await Assert.ThrowsAsync<RpcException>(() =>
            otherPartner.Signing.SignHashAsync(SadRequest(credential, authorization.AuthorizationId, sad, hashes)).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, stolen.StatusCode);

        // Other hashes, or the same ones reordered.
        var swapped = await Assert.ThrowsAsync<RpcException>(() =>
            partner.Signing.SignHashAsync(SadRequest(credential, authorization.AuthorizationId, sad, [hashes[1], hashes[0]])).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, swapped.StatusCode);

        // A wrong SAD costs an attempt; PIN and code are not accepted beside it.
        var wrong = await Assert.ThrowsAsync<RpcException>(() =>
            partner.Signing.SignHashAsync(SadRequest(credential, authorization.AuthorizationId, sad + "x", hashes)).ResponseAsync);
        Assert.Equal(StatusCode.PermissionDenied, wrong.StatusCode);
        var withPin = SadRequest(credential, authorization.AuthorizationId, sad, hashes);
        withPin.ActivationPin = Pin;
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => partner.Signing.SignHashAsync(withPin).ResponseAsync)).StatusCode);

        Assert.Equal(0, Tools.AuditCount(Server, credential.CredentialId, "signature.created"));

        // The right SAD still signs once.
        var signed = await partner.Signing.SignHashAsync(SadRequest(credential, authorization.AuthorizationId, sad, hashes));
        Assert.Equal(2, signed.Signatures.Count);
    }

    [Fact]
    public async Task A_wrong_pin_or_code_on_the_page_counts_and_a_rejected_request_never_signs()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
        var authorization = await partner.Signing.AuthorizeSignatureAsync(HolderRequest(credential, hashes));
        var page = new HolderPage(new Uri(authorization.ApprovalUrl), language: "de-DE,de;q=0.9,en;q=0.5");
        await page.OpenAsync();
        Assert.Contains("bittet Sie um Ihre Unterschrift", page.Html, StringComparison.Ordinal);
        var code = await ServerProcess.OutboxCodeAsync(Server.StateDir, authorization.AuthorizationId);

        // A wrong code: the page says so and the request stays open.
        Assert.Equal(HttpStatusCode.OK, await page.ApproveAsync(Pin, code == "000000" ? "111111" : "000000"));
        Assert.Contains("attempt(s) left", page.Html, StringComparison.Ordinal);

        // The right code with a wrong PIN: counted like any wrong PIN.
        var before = (await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId })).FailedPinCount;
        await page.ApproveAsync("99999999", code);
        Assert.Contains("wrong PIN", page.Html, StringComparison.OrdinalIgnoreCase);
        var after = (await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId })).FailedPinCount;
        Assert.Equal(before + 1, after);

        // The code was spent with the wrong PIN; a new one comes on request, then the holder rejects.
        Assert.Equal(HttpStatusCode.OK, await page.NewCodeAsync());
        Assert.Equal(HttpStatusCode.OK, await page.RejectAsync());
        var status = await partner.Signing.GetAuthorizationAsync(new GetAuthorizationRequest
        {
            CredentialId = credential.CredentialId,
            AuthorizationId = authorization.AuthorizationId,
        });
        Assert.Equal((AuthorizationState.Rejected, ""), (status.State, status.Sad));
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() =>
            partner.Signing.SignHashAsync(SadRequest(credential, authorization.AuthorizationId, "x", hashes)).ResponseAsync)).StatusCode);
        Assert.Equal(0, Tools.AuditCount(Server, credential.CredentialId, "signature.created"));
    }

    [Fact]
    public async Task The_cli_signs_a_qualified_file_while_the_holder_approves_with_dtrust_approve()
    {
        using var op = Operator();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var dir = Directory.CreateTempSubdirectory("dtrust-cli-approve-").FullName;
        try
        {
            var keyFile = Path.Combine(dir, "partner.key");
            await File.WriteAllTextAsync(keyFile, fixture.PartnerKey);
            var doc = Path.Combine(dir, "loan.txt");
            await File.WriteAllTextAsync(doc, "loan agreement " + Guid.NewGuid());

            // The partner's side waits for the holder (auto: holder approval for QUALIFIED)...
            var signing = Tools.DtrustAsync(Server, keyFile, "sign", doc, "--credential", credential.CredentialId, "--timestamp");
            string? link = null;
            for (var i = 0; i < 100 && link is null; i++)
            {
                link = LinkFor(credential.CredentialId);
                await Task.Delay(100);
            }

            Assert.NotNull(link);

            // ...and the holder, without a browser, completes the page with PIN and the SMS code.
            var approve = await Tools.DtrustAsync(Server, keyFile, "approve", link, "--pin", Pin, "--otp-from-outbox");
            Assert.True(approve.ExitCode == 0, approve.StdOut + approve.StdErr);
            Assert.Contains("Loan Platform GmbH asks you to sign", approve.StdOut, StringComparison.Ordinal);
            var signed = await signing;
            Assert.True(signed.ExitCode == 0, signed.StdOut + signed.StdErr);
            Assert.Contains("approve    http://localhost:", signed.StdErr, StringComparison.Ordinal);
            var verify = await ProcessRunner.RunAsync("openssl",
                ["cms", "-verify", "-binary", "-content", doc, "-inform", "DER", "-in", doc + ".p7s", "-CAfile", Server.Pki("root.pem"), "-out", "/dev/null"]);
            Assert.True(verify.ExitCode == 0, verify.StdErr);

            // The link is spent: a second approve is a one-line error and a non-zero exit.
            var again = await Tools.DtrustAsync(Server, keyFile, "approve", link, "--pin", Pin, "--otp-from-outbox");
            Assert.NotEqual(0, again.ExitCode);
            Assert.Contains("not valid", again.StdErr, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The approval link the server sent by SMS for the credential (development outbox), if any yet.</summary>
    private string? LinkFor(string credentialId)
    {
        var path = Path.Combine(Server.StateDir, "otp-outbox.jsonl");
        if (!File.Exists(path))
        {
            return null;
        }

        foreach (var line in File.ReadAllLines(path))
        {
            using var doc = System.Text.Json.JsonDocument.Parse(line);
            var text = doc.RootElement.GetProperty("text").GetString()!;
            if (doc.RootElement.GetProperty("credential_id").GetString() == credentialId && text.Contains("approve: ", StringComparison.Ordinal))
            {
                return text[(text.IndexOf("approve: ", StringComparison.Ordinal) + "approve: ".Length)..].Trim();
            }
        }

        return null;
    }
}
