using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;

namespace DTrust.Server.Tests;

/// <summary>
/// The CSC API end to end with a client written from the specification: v2 and v1.0.4.0 names, explicit
/// authorization on ADVANCED, oauth2code through the holder's page on QUALIFIED, the TSA; every signature checked by
/// openssl against the certificate credentials/info hands out. Then the refusals of the gRPC flow, in CSC's words.
/// The server has the default policy (QUALIFIED only by holder approval).
/// </summary>
[Collection(HolderServerGroup.Name)]
public sealed class CscApiTests(HolderServerFixture fixture)
{
    private const string Pin = SigningFlowTests.Pin;
    private const string Sha256Oid = "2.16.840.1.101.3.4.2.1";
    private const string EcdsaSha256 = "1.2.840.10045.4.3.2";
    private const string Sha256WithRsa = "1.2.840.113549.1.1.11";
    private const string RsaPss = "1.2.840.113549.1.1.10";

    private ServerProcess Server => fixture.Server;

    private CscClient Partner() => new(Server.CscAddress, fixture.PartnerKey);

    private DTrustClient Operator() => DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("operator"));

    [Fact]
    public async Task A_seal_is_listed_to_its_caller_as_an_implicit_eseal_and_signs_without_a_sad()
    {
        using var op = Operator();
        var (org, _) = await SealTests.NewOrganisationAsync(op);
        var (callerId, key) = await SealTests.NewPartnerAsync(op);
        var seal = await SealTests.EnrolSealAsync(Server, op, org, Level.QualifiedSeal, DTrust.Signing.V1.KeyAlgorithm.EcP256, callerId);
        using var system = new CscClient(Server.CscAddress, key);

        var list = await system.OkAsync("v2", "credentials/list", new JsonObject { ["userID"] = org, ["credentialInfo"] = true, ["authInfo"] = true });
        Assert.Equal([seal.CredentialId], list["credentialIDs"]!.AsArray().Select(a => a!.GetValue<string>()));
        var info = list["credentialInfos"]![0]!;
        Assert.Equal("eu_eidas_qeseal", info["signatureQualifier"]!.GetValue<string>());
        Assert.Equal("implicit", info["authMode"]!.GetValue<string>());
        Assert.Equal("implicit", info["auth"]!["mode"]!.GetValue<string>());
        var v1 = await system.OkAsync("v1", "credentials/info", new JsonObject { ["credentialID"] = seal.CredentialId });
        Assert.Equal(("implicit", "false"), (v1["authMode"]!.GetValue<string>(), v1["PIN"]!["presence"]!.GetValue<string>()));

        // signHash without a SAD: the registered caller is the seal's activation. openssl checks the value.
        var hashes = new[] { SHA256.HashData("policy document 1"u8), SHA256.HashData("policy document 2"u8) };
        var body = SignHashV2(seal, "", hashes, EcdsaSha256);
        body.Remove("SAD");
        var signed = await system.OkAsync("v2", "signatures/signHash", body);
        using var cert = X509CertificateLoader.LoadCertificate(seal.Certificate.Span);
        using var ec = cert.GetECDsaPublicKey()!;
        var values = signed["signatures"]!.AsArray().Select(v => Convert.FromBase64String(v!.GetValue<string>())).ToArray();
        Assert.Equal(2, values.Length);
        Assert.True(ec.VerifyHash(hashes[1], values[1], DSASignatureFormat.Rfc3279DerSequence));

        // Another partner of the tenant sees no seal; nobody gets a SAD for one; a person's credential needs its SAD.
        using var stranger = Partner();
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.RefusedAsync("v2", "credentials/info", new JsonObject { ["credentialID"] = seal.CredentialId })).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await stranger.RefusedAsync("v2", "signatures/signHash", body)).Status);
        var authorize = await system.RefusedAsync("v2", "credentials/authorize", new JsonObject
        {
            ["credentialID"] = seal.CredentialId,
            ["numSignatures"] = 1,
            ["hashes"] = CscClient.Strings([Convert.ToBase64String(hashes[0])]),
            ["hashAlgorithmOID"] = Sha256Oid,
        });
        Assert.Contains("seal", authorize.Description, StringComparison.Ordinal);
        var person = await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);
        var personBody = SignHashV2(person, "", hashes, EcdsaSha256);
        personBody.Remove("SAD");
        Assert.Equal(HttpStatusCode.BadRequest, (await stranger.RefusedAsync("v2", "signatures/signHash", personBody)).Status);
    }

    [Fact]
    public async Task Info_names_the_methods_algorithms_and_the_oauth2_origin_in_both_versions()
    {
        using var anonymous = new CscClient(Server.CscAddress, null);
        var v2 = await anonymous.OkAsync("v2", "info", new JsonObject { ["lang"] = "en-US" });
        Assert.Equal("2.0.0.2", v2["specs"]!.GetValue<string>());
        Assert.Contains("oauth2code", v2["authType"]!.AsArray().Select(a => a!.GetValue<string>()));
        Assert.Equal(Server.HolderAddress + "csc/v2", v2["oauth2"]!.GetValue<string>());
        Assert.Contains("signatures/signHash", v2["methods"]!.AsArray().Select(a => a!.GetValue<string>()));
        Assert.Contains(EcdsaSha256, v2["signAlgorithms"]!["algos"]!.AsArray().Select(a => a!.GetValue<string>()));

        var v1 = await anonymous.OkAsync("v1", "info", null);
        Assert.Equal("1.0.4.0", v1["specs"]!.GetValue<string>());

        // The logo info names is served on the holder's origin.
        using var http = new HttpClient();
        using var logo = await http.GetAsync(new Uri(v2["logo"]!.GetValue<string>()));
        Assert.Equal("image/svg+xml", logo.Content.Headers.ContentType?.MediaType);

        // The CSC API is not on the public listener, and its methods need a partner's key.
        using var onPublic = new CscClient(Server.HttpAddress, fixture.PartnerKey);
        Assert.Equal(HttpStatusCode.NotFound, (await onPublic.CallAsync("v2", "info", null)).Status);
        var (status, error, _) = await anonymous.RefusedAsync("v2", "credentials/list", new JsonObject { ["userID"] = "x" });
        Assert.Equal((HttpStatusCode.Unauthorized, "invalid_token"), (status, error));
        using var op = new CscClient(Server.CscAddress, Server.ApiKey("operator"));
        Assert.Equal(HttpStatusCode.Forbidden, (await op.RefusedAsync("v2", "credentials/list", new JsonObject { ["userID"] = "x" })).Status);
    }

    [Fact]
    public async Task V2_explicit_authorize_signs_a_batch_on_advanced_and_openssl_verifies_each_signature()
    {
        using var op = Operator();
        using var csc = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);

        var list = await csc.OkAsync("v2", "credentials/list", new JsonObject
        {
            ["userID"] = credential.UserId,
            ["credentialInfo"] = true,
            ["certificates"] = "chain",
            ["certInfo"] = true,
            ["authInfo"] = true,
        });
        Assert.Equal([credential.CredentialId], list["credentialIDs"]!.AsArray().Select(c => c!.GetValue<string>()));
        var info = list["credentialInfos"]![0]!;
        Assert.Equal("explicit", info["auth"]!["mode"]!.GetValue<string>());
        Assert.Equal("PIN AND OTP", info["auth"]!["expression"]!.GetValue<string>());
        Assert.Equal("1", info["SCAL"]!.GetValue<string>());
        Assert.Equal("eu_eidas_aes", info["signatureQualifier"]!.GetValue<string>());
        Assert.Equal(3, info["cert"]!["certificates"]!.AsArray().Count);
        Assert.Equal("1.2.840.10045.3.1.7", info["key"]!["curve"]!.GetValue<string>());
        Assert.Equal("enabled", info["key"]!["status"]!.GetValue<string>());

        var hashes = Enumerable.Range(0, 3).Select(_ => SHA256.HashData(RandomNumberGenerator.GetBytes(40))).ToArray();
        var sad = await ExplicitSadAsync(csc, "v2", credential, hashes);
        var signed = await csc.OkAsync("v2", "signatures/signHash", SignHashV2(credential, sad, hashes, EcdsaSha256));
        var signatures = signed["signatures"]!.AsArray().Select(s => Convert.FromBase64String(s!.GetValue<string>())).ToArray();
        Assert.Equal(3, signatures.Length);
        var certificate = info["cert"]!["certificates"]![0]!.GetValue<string>();
        for (var i = 0; i < 3; i++)
        {
            await AssertOpensslVerifiesAsync(certificate, hashes[i], signatures[i]);
        }

        // The SAD signed once.
        var (status, error, why) = await csc.RefusedAsync("v2", "signatures/signHash", SignHashV2(credential, sad, hashes, EcdsaSha256));
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_request"), (status, error));
        Assert.Contains("USED", why, StringComparison.Ordinal);
        Assert.Equal(3, Tools.AuditCount(Server, credential.CredentialId, "signature.created"));
    }

    [Fact]
    public async Task V1_names_authorize_and_sign_with_rsa_pkcs1_and_pss()
    {
        using var op = Operator();
        using var csc = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced, KeyAlgorithm.Rsa2048);

        var list = await csc.OkAsync("v1", "credentials/list", new JsonObject { ["userID"] = credential.UserId, ["maxResults"] = 10 });
        Assert.Contains(credential.CredentialId, list["credentialIDs"]!.AsArray().Select(c => c!.GetValue<string>()));
        var info = await csc.OkAsync("v1", "credentials/info", new JsonObject
        {
            ["credentialID"] = credential.CredentialId,
            ["certInfo"] = true,
            ["authInfo"] = true,
        });
        Assert.Equal("explicit", info["authMode"]!.GetValue<string>());
        Assert.Equal("true", info["OTP"]!["presence"]!.GetValue<string>());
        Assert.Equal(2048, info["key"]!["len"]!.GetValue<int>());
        Assert.Matches("^[0-9]{14}Z$", info["cert"]!["validTo"]!.GetValue<string>());
        var certificate = info["cert"]!["certificates"]![0]!.GetValue<string>();

        var hashes = new[] { SHA256.HashData("loan agreement"u8) };
        var sad = await ExplicitSadAsync(csc, "v1", credential, hashes);
        var pkcs1 = await csc.OkAsync("v1", "signatures/signHash", new JsonObject
        {
            ["credentialID"] = credential.CredentialId,
            ["SAD"] = sad,
            ["hash"] = CscClient.Strings(hashes.Select(Convert.ToBase64String)),
            ["hashAlgo"] = Sha256Oid,
            ["signAlgo"] = Sha256WithRsa,
        });
        await AssertOpensslVerifiesAsync(certificate, hashes[0], Convert.FromBase64String(pkcs1["signatures"]![0]!.GetValue<string>()), "-pkeyopt", "digest:sha256");

        // RSASSA-PSS with its parameters: SHA-256, MGF1 with SHA-256, 32 bytes of salt.
        sad = await ExplicitSadAsync(csc, "v1", credential, hashes);
        var pss = await csc.OkAsync("v1", "signatures/signHash", new JsonObject
        {
            ["credentialID"] = credential.CredentialId,
            ["SAD"] = sad,
            ["hash"] = CscClient.Strings(hashes.Select(Convert.ToBase64String)),
            ["hashAlgo"] = Sha256Oid,
            ["signAlgo"] = RsaPss,
            ["signAlgoParams"] = "MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIDAgEg",
        });
        await AssertOpensslVerifiesAsync(certificate, hashes[0], Convert.FromBase64String(pss["signatures"]![0]!.GetValue<string>()),
            "-pkeyopt", "digest:sha256", "-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "rsa_pss_saltlen:32");

        // ECDSA asked of an RSA key, or PSS parameters we do not sign with: refused before anything is spent.
        sad = await ExplicitSadAsync(csc, "v1", credential, hashes);
        var wrongFamily = await csc.RefusedAsync("v1", "signatures/signHash", new JsonObject
        {
            ["credentialID"] = credential.CredentialId,
            ["SAD"] = sad,
            ["hash"] = CscClient.Strings(hashes.Select(Convert.ToBase64String)),
            ["hashAlgo"] = Sha256Oid,
            ["signAlgo"] = EcdsaSha256,
        });
        Assert.Contains("does not fit", wrongFamily.Description, StringComparison.Ordinal);
        var wrongSalt = await csc.RefusedAsync("v1", "signatures/signHash", new JsonObject
        {
            ["credentialID"] = credential.CredentialId,
            ["SAD"] = sad,
            ["hash"] = CscClient.Strings(hashes.Select(Convert.ToBase64String)),
            ["hashAlgo"] = Sha256Oid,
            ["signAlgo"] = RsaPss,
            ["signAlgoParams"] = "MDSgDzANBglghkgBZQMEAgEFAKEcMBoGCSqGSIb3DQEBCDANBglghkgBZQMEAgEFAKIDAgEU",
        });
        Assert.Contains("salt", wrongSalt.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Qualified_signs_through_oauth2code_on_the_holder_page_and_each_misuse_of_the_code_is_refused()
    {
        using var op = Operator();
        using var csc = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var info = await csc.OkAsync("v2", "credentials/info", new JsonObject { ["credentialID"] = credential.CredentialId, ["authInfo"] = true });
        Assert.Equal("oauth2code", info["authMode"]!.GetValue<string>());
        Assert.Equal("2", info["SCAL"]!.GetValue<string>());
        Assert.Equal("eu_eidas_qes", info["signatureQualifier"]!.GetValue<string>());

        // Explicit mode is not sole control: refused for QUALIFIED, no code sent.
        var hashes = Enumerable.Range(0, 2).Select(_ => SHA256.HashData(RandomNumberGenerator.GetBytes(40))).ToArray();
        var relayed = await csc.RefusedAsync("v2", "credentials/sendOTP", new JsonObject { ["credentialID"] = credential.CredentialId });
        Assert.Contains("oauth2code", relayed.Description, StringComparison.Ordinal);
        var authorize = await csc.RefusedAsync("v2", "credentials/authorize", new JsonObject
        {
            ["credentialID"] = credential.CredentialId,
            ["numSignatures"] = 2,
            ["hashes"] = CscClient.Strings(hashes.Select(Convert.ToBase64String)),
            ["hashAlgorithmOID"] = Sha256Oid,
            ["authData"] = new JsonArray { new JsonObject { ["id"] = "PIN", ["value"] = Pin } },
        });
        Assert.Equal(HttpStatusCode.BadRequest, authorize.Status);

        // A wrong verifier spends the code and voids the approval: its SAD is not to be had another way either.
        var first = await ApproveThroughOAuthAsync(credential, hashes);
        var (status, body) = await csc.TokenAsync(fixture.PartnerId, fixture.PartnerKey, first.Code, CscClient.Pkce().Verifier, HolderServerFixture.ReturnUrl);
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_grant"), (status, body["error"]!.GetValue<string>()));
        (status, body) = await csc.TokenAsync(fixture.PartnerId, fixture.PartnerKey, first.Code, first.Verifier, HolderServerFixture.ReturnUrl);
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_grant"), (status, body["error"]!.GetValue<string>()));
        using var grpcPartner = DTrustClient.Connect(Server.GrpcAddress, apiKey: fixture.PartnerKey);
        var voided = await grpcPartner.Signing.GetAuthorizationAsync(new GetAuthorizationRequest { CredentialId = credential.CredentialId, AuthorizationId = first.AuthorizationId });
        Assert.Equal((AuthorizationState.Rejected, ""), (voided.State, voided.Sad));

        // The gRPC exchange has no verifier: an OAuth code is refused there, and that voids it too.
        var viaGrpc = await ApproveThroughOAuthAsync(credential, hashes);
        await CredentialLifecycleTests.AssertRefused(Grpc.Core.StatusCode.PermissionDenied,
            grpcPartner.Signing.ExchangeApprovalCodeAsync(new ExchangeApprovalCodeRequest { Code = viaGrpc.Code }));
        Assert.Equal(AuthorizationState.Rejected, (await grpcPartner.Signing.GetAuthorizationAsync(
            new GetAuthorizationRequest { CredentialId = credential.CredentialId, AuthorizationId = viaGrpc.AuthorizationId })).State);

        // Another redirect_uri than the request's; then a wrong client secret.
        var second = await ApproveThroughOAuthAsync(credential, hashes);
        (status, body) = await csc.TokenAsync(fixture.PartnerId, fixture.PartnerKey, second.Code, second.Verifier, "http://localhost:9/elsewhere");
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_grant"), (status, body["error"]!.GetValue<string>()));
        var third = await ApproveThroughOAuthAsync(credential, hashes);
        (status, body) = await csc.TokenAsync(fixture.PartnerId, "not-the-key", third.Code, third.Verifier, HolderServerFixture.ReturnUrl);
        Assert.Equal((HttpStatusCode.Unauthorized, "invalid_client"), (status, body["error"]!.GetValue<string>()));

        (status, body) = await csc.TokenAsync(fixture.PartnerId, fixture.PartnerKey, third.Code, third.Verifier, HolderServerFixture.ReturnUrl);
        Assert.True(status == HttpStatusCode.OK, body.ToJsonString());
        Assert.Equal(credential.CredentialId, body["credentialID"]!.GetValue<string>());
        var sad = body["access_token"]!.GetValue<string>();

        // A hash the holder did not approve: refused, and the SAD still signs what was approved.
        var other = await csc.RefusedAsync("v2", "signatures/signHash", SignHashV2(credential, sad, [hashes[0], SHA256.HashData("other"u8)], EcdsaSha256));
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_request"), (other.Status, other.Error));
        var signed = await csc.OkAsync("v2", "signatures/signHash", SignHashV2(credential, sad, hashes, EcdsaSha256));
        for (var i = 0; i < 2; i++)
        {
            await AssertOpensslVerifiesAsync(
                Convert.ToBase64String(credential.Certificate.ToByteArray()), hashes[i], Convert.FromBase64String(signed["signatures"]![i]!.GetValue<string>()));
        }

        Assert.Equal(HttpStatusCode.BadRequest, (await csc.RefusedAsync("v2", "signatures/signHash", SignHashV2(credential, sad, hashes, EcdsaSha256))).Status);

        // The holder rejects: the browser comes back with OAuth's access_denied and no code.
        var (_, challenge) = CscClient.Pkce();
        using var page = new HolderPage(await AuthorizeUrlAsync(credential, hashes, challenge));
        Assert.Equal(HttpStatusCode.OK, await page.OpenAsync());
        await page.RejectAsync();
        var back = page.Last!.Headers.Location!.ToString();
        Assert.StartsWith(HolderServerFixture.ReturnUrl + "?error=access_denied", back, StringComparison.Ordinal);
        Assert.DoesNotContain("code=", back, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_signing_tool_gets_a_qualified_signature_by_oauth2code_while_the_holder_approves_in_chromium()
    {
        using var op = Operator();
        using var csc = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = Enumerable.Range(0, 2).Select(_ => SHA256.HashData(RandomNumberGenerator.GetBytes(40))).ToArray();
        var (verifier, challenge) = CscClient.Pkce();
        var authorizeUrl = await PushedAuthorizeUrlAsync(credential, hashes, challenge);

        await using var browser = await HolderBrowserTests.LaunchAsync();
        var page = await HolderBrowserTests.PhoneAsync(browser, "en-GB,en;q=0.9");

        // The partner's redirect_uri is answered in the browser itself: only the URL it was sent to matters.
        var returned = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await page.SetRequestInterceptionAsync(true);
        page.Request += async (_, e) =>
        {
            if (e.Request.Url.StartsWith(HolderServerFixture.ReturnUrl, StringComparison.Ordinal))
            {
                returned.TrySetResult(e.Request.Url);
                await e.Request.RespondAsync(new PuppeteerSharp.ResponseData { Status = HttpStatusCode.OK, ContentType = "text/html", Body = "back at the partner" });
            }
            else
            {
                await e.Request.ContinueAsync();
            }
        };

        // A request that was not pushed: a readable page on our origin, nothing else happens.
        var unpushed = await page.GoToAsync(new Uri(Server.HolderAddress, "/csc/v2/oauth2/authorize?client_id=" + fixture.PartnerId + "&credentialID=" + credential.CredentialId).ToString());
        Assert.Equal(HttpStatusCode.BadRequest, unpushed.Status);
        Assert.Contains("secure route (oauth2/par)", await page.GetContentAsync(), StringComparison.Ordinal);
        var docs = Directory.CreateDirectory(Path.Combine(RepoPaths.Root, "docs", "holder")).FullName;
        await page.ScreenshotAsync(Path.Combine(docs, "csc-unpushed-en.png"));

        await page.GoToAsync(authorizeUrl.ToString());
        Assert.StartsWith(Server.HolderAddress + "approve/", page.Url, StringComparison.Ordinal);
        Assert.Contains("Loan agreement via CSC", await page.GetContentAsync(), StringComparison.Ordinal);
        await page.TypeAsync("#pin", Pin);
        await page.TypeAsync("#code", await LatestCodeAsync(credential.CredentialId));
        await page.ClickAsync("button[type=submit]");
        var back = new Uri(await returned.Task.WaitAsync(TimeSpan.FromSeconds(20)));
        var code = System.Web.HttpUtility.ParseQueryString(back.Query)["code"]!;
        Assert.Equal("csc-state", System.Web.HttpUtility.ParseQueryString(back.Query)["state"]);

        var (status, token) = await csc.TokenAsync(fixture.PartnerId, fixture.PartnerKey, code, verifier, HolderServerFixture.ReturnUrl);
        Assert.True(status == HttpStatusCode.OK, token.ToJsonString());
        var signed = await csc.OkAsync("v2", "signatures/signHash", SignHashV2(credential, token["access_token"]!.GetValue<string>(), hashes, EcdsaSha256));
        for (var i = 0; i < 2; i++)
        {
            await AssertOpensslVerifiesAsync(
                Convert.ToBase64String(credential.Certificate.ToByteArray()), hashes[i], Convert.FromBase64String(signed["signatures"]![i]!.GetValue<string>()));
        }
    }

    [Fact]
    public async Task A_code_and_a_sad_raced_by_concurrent_calls_each_serve_exactly_once()
    {
        using var op = Operator();
        using var csc = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = new[] { SHA256.HashData(RandomNumberGenerator.GetBytes(40)) };

        // Eight token requests with the same code at once: one access token, the rest invalid_grant.
        var approved = await ApproveThroughOAuthAsync(credential, hashes);
        var exchanges = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            csc.TokenAsync(fixture.PartnerId, fixture.PartnerKey, approved.Code, approved.Verifier, HolderServerFixture.ReturnUrl)));
        var issued = Assert.Single(exchanges, e => e.Status == HttpStatusCode.OK);
        Assert.All(exchanges.Where(e => e.Status != HttpStatusCode.OK), e => Assert.Equal("invalid_grant", e.Body["error"]!.GetValue<string>()));

        // Eight signHash calls with that SAD at once: one signature, seven refusals, one audit entry.
        var sad = issued.Body["access_token"]!.GetValue<string>();
        var calls = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => csc.CallAsync("v2", "signatures/signHash", SignHashV2(credential, sad, hashes, EcdsaSha256))));
        Assert.Single(calls, c => c.Status == HttpStatusCode.OK);
        Assert.All(calls.Where(c => c.Status != HttpStatusCode.OK), c => Assert.Equal(HttpStatusCode.BadRequest, c.Status));
        Assert.Equal(1, Tools.AuditCount(Server, credential.CredentialId, "signature.created"));
    }

    [Fact]
    public async Task Authorization_requests_are_pushed_by_the_partner_and_nothing_else_reaches_the_holder()
    {
        using var op = Operator();
        using var csc = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = new[] { SHA256.HashData("x"u8) };
        var (_, challenge) = CscClient.Pkce();
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });

        // Anyone who knows a client_id and a credential ID could otherwise send the holder SMS codes in the
        // partner's name and spend the credential's wrong-code allowance: a request in the query is refused, and
        // so is a pushed request presented for another client. A page, never a redirect.
        var direct = string.Join('&', AuthorizeQuery(credential, hashes, challenge).Select(p => p.Key + "=" + Uri.EscapeDataString(p.Value)));
        using var unpushed = await browser.GetAsync(new Uri(Server.HolderAddress, "/csc/v2/oauth2/authorize?" + direct));
        Assert.Equal(HttpStatusCode.BadRequest, unpushed.StatusCode);
        Assert.Null(unpushed.Headers.Location);
        Assert.Contains("oauth2/par", await unpushed.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var pushed = await PushedAuthorizeUrlAsync(credential, hashes, challenge);
        using var otherClient = await browser.GetAsync(new Uri(pushed.ToString().Replace(Uri.EscapeDataString(fixture.PartnerId), "caller_nobody", StringComparison.Ordinal)));
        Assert.Equal(HttpStatusCode.BadRequest, otherClient.StatusCode);
        Assert.Null(otherClient.Headers.Location);
        Assert.Empty(await OutboxMessagesAsync(credential.CredentialId));

        foreach (var (name, value, status, error) in new[]
        {
            ("code_challenge_method", "plain", HttpStatusCode.BadRequest, "invalid_request"),
            ("response_type", "token", HttpStatusCode.BadRequest, "unsupported_response_type"),
            ("scope", "service", HttpStatusCode.BadRequest, "invalid_scope"),
            ("redirect_uri", "https://evil.example/steal", HttpStatusCode.BadRequest, "invalid_request"),
            ("credentialID", "cred_missing", HttpStatusCode.NotFound, "invalid_request"),
            ("client_id", "caller_someone_else", HttpStatusCode.Unauthorized, "invalid_client"),
        })
        {
            var q = AuthorizeQuery(credential, hashes, challenge);
            q[name] = value;
            var (refusedStatus, body) = await csc.ParAsync(q);
            Assert.True((status, error) == (refusedStatus, body["error"]!.GetValue<string>()), $"{name}={value}: {(int)refusedStatus} {body.ToJsonString()}");
        }

        using var anonymous = new CscClient(Server.CscAddress, null);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.ParAsync(AuthorizeQuery(credential, hashes, challenge))).Status);
    }

    [Fact]
    public async Task Malformed_requests_get_csc_error_bodies_and_the_server_stays_up()
    {
        using var op = Operator();
        using var csc = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);

        var broken = await csc.SendAsync("v2", "credentials/info", "{\"credentialID\": ", "application/json");
        Assert.Equal((HttpStatusCode.BadRequest, "invalid_request"), (broken.Status, broken.Body!["error"]!.GetValue<string>()));
        var wrongType = await csc.SendAsync("v2", "credentials/info", "{\"credentialID\": 5}", "application/json");
        Assert.Equal(HttpStatusCode.BadRequest, wrongType.Status);
        Assert.Contains("credentialID", wrongType.Body!["error_description"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.BadRequest, (await csc.SendAsync("v2", "credentials/info", "[1,2]", "application/json")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await csc.SendAsync("v2", "credentials/info", "credentialID=x", "text/plain")).Status);

        // A huge array, and a body far beyond any CSC request.
        var huge = new JsonObject
        {
            ["credentialID"] = credential.CredentialId,
            ["numSignatures"] = 5000,
            ["hashAlgorithmOID"] = Sha256Oid,
            ["hashes"] = CscClient.Strings(Enumerable.Repeat(Convert.ToBase64String(new byte[32]), 5000)),
            ["authData"] = new JsonArray { new JsonObject { ["id"] = "PIN", ["value"] = Pin } },
        };
        var tooMany = await csc.RefusedAsync("v2", "credentials/authorize", huge);
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.Status);
        var (bigStatus, bigBody) = await csc.SendAsync("v2", "credentials/info", "{\"clientData\":\"" + new string('a', 400_000) + "\"}", "application/json");
        Assert.Equal(HttpStatusCode.BadRequest, bigStatus);
        Assert.Equal("invalid_request", bigBody!["error"]!.GetValue<string>());

        // Another tenant's credential is NOT FOUND like a missing one; a SAD that is not ours, an unknown algorithm.
        using var otherTenant = new CscClient(Server.CscAddress, await Server.AddCallerAsync("tenant-csc", "partner"));
        var foreign = await otherTenant.RefusedAsync("v2", "credentials/info", new JsonObject { ["credentialID"] = credential.CredentialId });
        var missing = await csc.RefusedAsync("v2", "credentials/info", new JsonObject { ["credentialID"] = "cred_nothing" });
        Assert.Equal((HttpStatusCode.NotFound, missing.Error), (foreign.Status, foreign.Error));
        var hashes = new[] { SHA256.HashData("doc"u8) };
        Assert.Contains("SAD", (await csc.RefusedAsync("v2", "signatures/signHash", SignHashV2(credential, "garbage", hashes, EcdsaSha256))).Description, StringComparison.Ordinal);
        Assert.Contains("signAlgo", (await csc.RefusedAsync("v2", "signatures/signHash", SignHashV2(credential, "a.b", hashes, "1.2.3.4"))).Description, StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.BadRequest, (await csc.SendAsync("v2", "credentials/authorize",
            "{\"credentialID\":\"" + credential.CredentialId + "\",\"hashes\":[null],\"authData\":[null]}", "application/json")).Status);

        // A wrong PIN: refused, counted like any other.
        Assert.Equal(HttpStatusCode.NoContent, (await csc.CallAsync("v2", "credentials/sendOTP", new JsonObject { ["credentialID"] = credential.CredentialId })).Status);
        var code = await LatestCodeAsync(credential.CredentialId);

        // While a code is out a new one is refused: each would come with fresh attempts.
        Assert.Equal(HttpStatusCode.TooManyRequests, (await csc.RefusedAsync("v2", "credentials/sendOTP", new JsonObject { ["credentialID"] = credential.CredentialId })).Status);
        var wrongPin = await csc.RefusedAsync("v2", "credentials/authorize", Authorize("v2", credential, hashes, "99999999", code));
        Assert.Contains("PIN", wrongPin.Description, StringComparison.Ordinal);

        // A revoked credential authorizes nothing.
        await op.Credentials.RevokeCredentialAsync(new RevokeCredentialRequest { CredentialId = credential.CredentialId });
        var revoked = await csc.RefusedAsync("v2", "credentials/sendOTP", new JsonObject { ["credentialID"] = credential.CredentialId });
        Assert.Equal(HttpStatusCode.BadRequest, revoked.Status);

        Assert.Equal("2.0.0.2", (await csc.OkAsync("v2", "info", null))["specs"]!.GetValue<string>());
    }

    [Fact]
    public async Task Timestamp_answers_an_rfc3161_token_that_openssl_verifies()
    {
        using var csc = Partner();
        var hash = SHA256.HashData("archived document"u8);
        var answer = await csc.OkAsync("v2", "signatures/timestamp", new JsonObject
        {
            ["hash"] = Convert.ToBase64String(hash),
            ["hashAlgorithmOID"] = Sha256Oid,
            ["nonce"] = "0a1b2c3d4e5f",
        });
        var dir = Directory.CreateTempSubdirectory("dtrust-csc-ts").FullName;
        try
        {
            var token = Path.Combine(dir, "token.der");
            await File.WriteAllBytesAsync(token, Convert.FromBase64String(answer["timestamp"]!.GetValue<string>()));
            var verify = await Tools.OpensslAsync(
                "ts", "-verify", "-token_in", "-in", token, "-digest", Convert.ToHexString(hash), "-CAfile", Server.Pki("root.pem"),
                "-untrusted", Server.Pki("chain.pem"));
            Assert.True(verify.ExitCode == 0, verify.StdOut + verify.StdErr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    // ---- helpers ----

    /// <summary>sendOTP, the code from the outbox, credentials/authorize with PIN and code: the SAD.</summary>
    private async Task<string> ExplicitSadAsync(CscClient csc, string version, Credential credential, byte[][] hashes)
    {
        var (sent, _) = await csc.CallAsync(version, "credentials/sendOTP", new JsonObject { ["credentialID"] = credential.CredentialId });
        Assert.Equal(HttpStatusCode.NoContent, sent);
        var code = await LatestCodeAsync(credential.CredentialId);
        var authorized = await csc.OkAsync(version, "credentials/authorize", Authorize(version, credential, hashes, Pin, code));
        Assert.True(authorized["expiresIn"]!.GetValue<long>() > 0);
        return authorized["SAD"]!.GetValue<string>();
    }

    private static JsonObject Authorize(string version, Credential credential, byte[][] hashes, string pin, string code) => version == "v1"
        ? new JsonObject
        {
            ["credentialID"] = credential.CredentialId,
            ["numSignatures"] = hashes.Length,
            ["hash"] = CscClient.Strings(hashes.Select(Convert.ToBase64String)),
            ["PIN"] = pin,
            ["OTP"] = code,
        }
        : new JsonObject
        {
            ["credentialID"] = credential.CredentialId,
            ["numSignatures"] = hashes.Length,
            ["hashes"] = CscClient.Strings(hashes.Select(Convert.ToBase64String)),
            ["hashAlgorithmOID"] = Sha256Oid,
            ["authData"] = new JsonArray { new JsonObject { ["id"] = "PIN", ["value"] = pin }, new JsonObject { ["id"] = "OTP", ["value"] = code } },
        };

    private static JsonObject SignHashV2(Credential credential, string sad, byte[][] hashes, string signAlgo) => new()
    {
        ["credentialID"] = credential.CredentialId,
        ["SAD"] = sad,
        ["hashes"] = CscClient.Strings(hashes.Select(Convert.ToBase64String)),
        ["hashAlgorithmOID"] = Sha256Oid,
        ["signAlgo"] = signAlgo,
        ["operationMode"] = "S",
    };

    private Dictionary<string, string> AuthorizeQuery(Credential credential, byte[][] hashes, string challenge) => new()
    {
        ["response_type"] = "code",
        ["client_id"] = fixture.PartnerId,
        ["redirect_uri"] = HolderServerFixture.ReturnUrl,
        ["scope"] = "credential",
        ["credentialID"] = credential.CredentialId,
        ["numSignatures"] = hashes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["hashes"] = string.Join(',', hashes.Select(CscClient.Base64Url)),
        ["hashAlgorithmOID"] = Sha256Oid,
        ["code_challenge"] = challenge,
        ["code_challenge_method"] = "S256",
        ["state"] = "csc-state",
        ["description"] = "Loan agreement via CSC",
    };

    /// <summary>The partner pushes the request (oauth2/par); the browser URL that takes the holder to our page.</summary>
    private async Task<Uri> PushedAuthorizeUrlAsync(Credential credential, byte[][] hashes, string challenge)
    {
        using var csc = Partner();
        var (status, pushed) = await csc.ParAsync(AuthorizeQuery(credential, hashes, challenge));
        Assert.True(status == HttpStatusCode.Created, pushed.ToJsonString());
        var requestUri = pushed["request_uri"]!.GetValue<string>();
        Assert.StartsWith("urn:ietf:params:oauth:request_uri:", requestUri, StringComparison.Ordinal);
        return new Uri(Server.HolderAddress,
            $"/csc/v2/oauth2/authorize?client_id={Uri.EscapeDataString(fixture.PartnerId)}&request_uri={Uri.EscapeDataString(requestUri)}");
    }

    /// <summary>oauth2/authorize as the holder's browser calls it: the redirect to our approval page.</summary>
    private async Task<Uri> AuthorizeUrlAsync(Credential credential, byte[][] hashes, string challenge)
    {
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        using var response = await browser.GetAsync(await PushedAuthorizeUrlAsync(credential, hashes, challenge));
        Assert.True(response.StatusCode == HttpStatusCode.Redirect, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        var location = response.Headers.Location!;
        Assert.StartsWith(Server.HolderAddress + "approve/", location.ToString(), StringComparison.Ordinal);
        return location;
    }

    /// <summary>The whole oauth2code front channel: authorize, the page with PIN and SMS code, the redirect's code.</summary>
    internal async Task<(string Code, string Verifier, string AuthorizationId)> ApproveThroughOAuthAsync(Credential credential, byte[][] hashes)
    {
        var (verifier, challenge) = CscClient.Pkce();
        using var page = new HolderPage(await AuthorizeUrlAsync(credential, hashes, challenge));
        Assert.Equal(HttpStatusCode.OK, await page.OpenAsync());
        Assert.Contains("Loan agreement via CSC", page.Html, StringComparison.Ordinal);
        var sms = (await OutboxMessagesAsync(credential.CredentialId))[^1];
        await page.ApproveAsync(Pin, sms["otp"]!.GetValue<string>());
        var back = page.Last!.Headers.Location ?? throw new InvalidOperationException("no redirect: " + page.Html);
        Assert.StartsWith(HolderServerFixture.ReturnUrl + "?code=", back.ToString(), StringComparison.Ordinal);
        Assert.Contains("state=csc-state", back.Query, StringComparison.Ordinal);
        var code = System.Web.HttpUtility.ParseQueryString(back.Query)["code"]!;
        return (code, verifier, sms["challenge_id"]!.GetValue<string>());
    }

    /// <summary>The development outbox's one-time codes for the credential (not its transport PIN), oldest first.</summary>
    private async Task<List<JsonNode>> OutboxMessagesAsync(string credentialId)
    {
        var path = Path.Combine(Server.StateDir, "otp-outbox.jsonl");
        return !File.Exists(path) ? [] : [.. (await File.ReadAllLinesAsync(path)).Select(l => JsonNode.Parse(l)!)
            .Where(m => m["credential_id"]?.GetValue<string>() == credentialId && m["otp"]?.GetValue<string>() is { Length: > 0 }
                && m["challenge_id"]?.GetValue<string>()?.StartsWith("transport-pin:", StringComparison.Ordinal) == false)];
    }

    /// <summary>The latest one-time code the development outbox holds for the credential.</summary>
    private async Task<string> LatestCodeAsync(string credentialId)
    {
        var path = Path.Combine(Server.StateDir, "otp-outbox.jsonl");
        for (var i = 0; i < 100; i++)
        {
            var code = File.Exists(path)
                ? (await File.ReadAllLinesAsync(path)).Select(l => JsonNode.Parse(l)!)
                    .LastOrDefault(m => m["credential_id"]?.GetValue<string>() == credentialId && m["otp"]?.GetValue<string>() is { Length: > 0 })?["otp"]!.GetValue<string>()
                : null;
            if (code is not null)
            {
                return code;
            }

            await Task.Delay(50);
        }

        throw new InvalidOperationException("no code in the outbox for " + credentialId);
    }

    private static async Task AssertOpensslVerifiesAsync(string certificateBase64, byte[] digest, byte[] signature, params string[] options)
    {
        var dir = Directory.CreateTempSubdirectory("dtrust-csc").FullName;
        try
        {
            var pem = Path.Combine(dir, "cert.pem");
            await File.WriteAllTextAsync(pem, "-----BEGIN CERTIFICATE-----\n" + certificateBase64 + "\n-----END CERTIFICATE-----\n");
            await File.WriteAllBytesAsync(Path.Combine(dir, "digest"), digest);
            await File.WriteAllBytesAsync(Path.Combine(dir, "sig"), signature);
            var verify = await Tools.OpensslAsync(
                ["pkeyutl", "-verify", "-certin", "-inkey", pem, "-in", Path.Combine(dir, "digest"), "-sigfile", Path.Combine(dir, "sig"), .. options]);
            Assert.True(verify.ExitCode == 0 && verify.StdOut.Contains("Success", StringComparison.Ordinal), verify.StdOut + verify.StdErr);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
