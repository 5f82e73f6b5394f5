using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using static DTrust.Server.Tests.Tools;
using HashAlgorithm = DTrust.Signing.V1.HashAlgorithm;

namespace DTrust.Server.Tests;

/// <summary>
/// Seals of organisations on the running server: the certificate profile as openssl and python3-cryptography read
/// it, the binding of a seal to its registered callers (another partner of the same tenant and another tenant see
/// nothing), the separation from persons' paths both ways, revocation that stops at once, and CAdES seals checked
/// by openssl cms and PKI.js.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed class SealTests(ServerFixture fixture) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dtrust-seals-").FullName;

    private ServerProcess Server => fixture.Server;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(Level.QualifiedSeal, DTrust.Signing.V1.KeyAlgorithm.EcP256)]
    [InlineData(Level.AdvancedSeal, DTrust.Signing.V1.KeyAlgorithm.Rsa3072)]
    public async Task Seal_certificates_carry_the_legal_person_profile_for_openssl_and_python_cryptography(Level level, DTrust.Signing.V1.KeyAlgorithm algorithm)
    {
        using var op = Operator();
        var (org, identifier) = await NewOrganisationAsync(op);
        var (caller, _) = await NewPartnerAsync(op);
        var seal = await EnrolSealAsync(Server, op, org, level, algorithm, caller);
        Assert.Equal(CredentialStatus.Valid, seal.Status);
        Assert.Equal(org, seal.UserId);
        Assert.Equal([caller], seal.SealCallers);
        var pem = await WritePemAsync(_dir, $"{level}.pem", seal.Certificate);
        var qualified = level == Level.QualifiedSeal;
        var name = qualified ? "seal-qualified" : "seal-advanced";

        var run = await ProcessRunner.RunAsync("/usr/bin/python3", [Path.Combine(RepoPaths.Root, "tests", "peers", "python", "seal_profile.py"), pem]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        using var json = JsonDocument.Parse(run.StdOut.Trim());
        var p = json.RootElement;
        var subject = p.GetProperty("subject");
        Assert.Equal(identifier, subject.GetProperty("2.5.4.97").GetString());
        Assert.Equal("Musterversicherung AG", subject.GetProperty("2.5.4.10").GetString());
        Assert.Equal("Musterversicherung AG", subject.GetProperty("2.5.4.3").GetString());
        Assert.Equal("DE", subject.GetProperty("2.5.4.6").GetString());
        Assert.False(subject.TryGetProperty("2.5.4.42", out _), "a seal names no given name");
        Assert.Equal(
            qualified ? ["0.4.0.194112.1.3", "1.3.6.1.4.1.32473.2.4"] : ["0.4.0.194112.1.1", "1.3.6.1.4.1.32473.2.5"],
            p.GetProperty("policies").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(
            qualified
                ? ["0.4.0.1862.1.1", "0.4.0.1862.1.4", "0.4.0.1862.1.6", "0.4.0.1862.1.6.2", "1.3.6.1.5.5.7.11.2", "0.4.0.194121.1.2"]
                : ["0.4.0.1862.1.1", "0.4.0.1862.1.6", "0.4.0.1862.1.6.2", "1.3.6.1.5.5.7.11.2", "0.4.0.194121.1.2"],
            p.GetProperty("qcStatements").EnumerateArray().Select(e => e.GetString()));
        Assert.True(p.GetProperty("keyUsageCritical").GetBoolean());
        Assert.True(p.GetProperty("contentCommitment").GetBoolean());
        Assert.Equal(!qualified, p.GetProperty("digitalSignature").GetBoolean());
        Assert.InRange(p.GetProperty("days").GetInt32(), qualified ? 1825 : 3651, qualified ? 1827 : 3654);

        // openssl names the attribute and the policy, and builds the chain through the seal level's own CA.
        var text = (await OpensslAsync("x509", "-in", pem, "-noout", "-text", "-nameopt", "multiline")).EnsureSuccess("x509 -text").StdOut;
        Assert.Contains($"organizationIdentifier    = {identifier}", text, StringComparison.Ordinal);
        Assert.Contains("Policy: " + (qualified ? "0.4.0.194112.1.3" : "0.4.0.194112.1.1"), text, StringComparison.Ordinal);
        var verify = await OpensslAsync("verify", "-CAfile", Server.Pki("root.pem"), "-untrusted", Server.Pki($"ca-{name}.pem"), pem);
        Assert.True(verify.ExitCode == 0, verify.StdOut + verify.StdErr);

        // Not under a person's CA of the same level.
        var person = await OpensslAsync("verify", "-CAfile", Server.Pki("root.pem"), "-untrusted", Server.Pki(qualified ? "ca-qualified.pem" : "ca-advanced.pem"), pem);
        Assert.NotEqual(0, person.ExitCode);
    }

    [Fact]
    public async Task A_seal_signs_a_batch_for_its_registered_caller_alone_and_is_not_found_for_anyone_else()
    {
        using var op = Operator();
        var (org, _) = await NewOrganisationAsync(op);
        var (registered, registeredKey) = await NewPartnerAsync(op);
        var (bystander, bystanderKey) = await NewPartnerAsync(op);
        var seal = await EnrolSealAsync(Server, op, org, Level.QualifiedSeal, DTrust.Signing.V1.KeyAlgorithm.EcP256, registered);
        using var system = Partner(registeredKey);
        using var other = Partner(bystanderKey);
        using var otherTenant = Partner(await Server.AddCallerAsync("tenant-seal", "partner"));

        // A batch of 100: no challenge, no PIN, no code; every value verifies against the seal's certificate.
        var hashes = Enumerable.Range(0, 100).Select(i => SHA256.HashData(BitConverter.GetBytes(i))).ToArray();
        var signed = await system.Signing.SignHashAsync(SealRequest(seal.CredentialId, hashes));
        Assert.Equal(100, signed.Signatures.Count);
        Assert.Equal(Level.QualifiedSeal, signed.Level);
        using var ec = X509CertificateLoader.LoadCertificate(seal.Certificate.Span).GetECDsaPublicKey()!;
        for (var i = 0; i < hashes.Length; i++)
        {
            Assert.True(ec.VerifyHash(hashes[i], signed.Signatures[i].Span, DSASignatureFormat.Rfc3279DerSequence), $"signature {i}");
        }

        // One entry for the batch, naming every hash in order, billing 100 at the seal's level.
        Assert.Equal(1, AuditCount(Server, seal.CredentialId, "signature.created"));
        var entry = LatestAuditDetails(Server, seal.CredentialId, "signature.created");
        Assert.Equal("QualifiedSeal", entry.GetProperty("level").GetString());
        Assert.Equal(100, entry.GetProperty("signatures").GetInt32());
        Assert.Equal(hashes.Select(Convert.ToHexString), entry.GetProperty("hashes").EnumerateArray().Select(h => h.GetString()));

        // Another partner of the same tenant and a partner of another tenant: NOT_FOUND, like a missing credential.
        foreach (var stranger in new[] { other, otherTenant })
        {
            Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() =>
                stranger.Signing.SignHashAsync(SealRequest(seal.CredentialId, hashes[..1])).ResponseAsync)).StatusCode);
            Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() =>
                stranger.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = seal.CredentialId }).ResponseAsync)).StatusCode);
            var listed = await stranger.Credentials.ListCredentialsAsync(new ListCredentialsRequest { UserId = org });
            Assert.Empty(listed.Credentials);
        }

        var own = Assert.Single((await system.Credentials.ListCredentialsAsync(new ListCredentialsRequest { UserId = org })).Credentials);
        Assert.Empty(own.SealCallers);
        Assert.Equal(100, AuditedSignatures(Server, seal.CredentialId));

        // One operator alone cannot re-bind the seal (a partner of its own could then sign as the organisation):
        // the request waits for the representative's code or a second operator; a wrong code binds nothing.
        var rebind = new SetSealCallersRequest { CredentialId = seal.CredentialId, CallerIds = { bystander } };
        var waiting = await Assert.ThrowsAsync<RpcException>(() => op.Credentials.SetSealCallersAsync(rebind).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, waiting.StatusCode);
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() => op.Credentials.SetSealCallersAsync(rebind).ResponseAsync)).StatusCode);
        var code = await ServerProcess.OutboxCodeAsync(Server.StateDir, "confirm:seal-callers:" + seal.CredentialId);
        var wrong = new SetSealCallersRequest(rebind) { ConfirmationCode = code == "000000" ? "111111" : "000000" };
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() => op.Credentials.SetSealCallersAsync(wrong).ResponseAsync)).StatusCode);
        Assert.Equal([registered], (await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = seal.CredentialId })).SealCallers);

        // A second operator asking for the same callers confirms it; the use moves, at once, to the new caller alone.
        using var second = DTrustClient.Connect(Server.GrpcAddress, apiKey: await Server.AddOperatorAsync("dev"));
        var moved = await second.Credentials.SetSealCallersAsync(rebind);
        Assert.Equal([bystander], moved.SealCallers);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() =>
            system.Signing.SignHashAsync(SealRequest(seal.CredentialId, hashes[..1])).ResponseAsync)).StatusCode);
        Assert.Single((await other.Signing.SignHashAsync(SealRequest(seal.CredentialId, hashes[..1]))).Signatures);

        // Billed at the seal's level.
        var month = DateTime.UtcNow.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
        var usage = await op.Credentials.GetUsageAsync(new GetUsageRequest { Month = month });
        Assert.True(usage.Rows.Single(r => r.Level == Level.QualifiedSeal).Signatures >= 101);

        // Metrics count them at the seal's level.
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri(Server.AdminAddress, "/metrics"));
        var line = metrics.Split('\n').Single(l => l.StartsWith("dtrust_signatures_total{level=\"qualified_seal\",format=\"raw\",outcome=\"signed\"}", StringComparison.Ordinal));
        Assert.True(double.Parse(line.Split(' ')[^1], System.Globalization.CultureInfo.InvariantCulture) >= 101, line);

        // The chain recounts the batch entries' counts to what is billed.
        var verified = await op.Credentials.VerifyAuditLogAsync(new VerifyAuditLogRequest());
        Assert.True(verified.Intact, verified.Problem);
        Assert.True(verified.UsageChecked);
        Assert.Empty(verified.UsageDifferences);
    }

    [Fact]
    public async Task Persons_paths_never_reach_a_seal_and_the_seal_path_never_reaches_a_person()
    {
        using var op = Operator();
        var (org, _) = await NewOrganisationAsync(op);
        var (callerId, key) = await NewPartnerAsync(op);
        var seal = await EnrolSealAsync(Server, op, org, Level.AdvancedSeal, DTrust.Signing.V1.KeyAlgorithm.EcP256, callerId);
        using var system = Partner(key);
        var hash = ByteString.CopyFrom(SHA256.HashData("statement"u8));

        // A seal through the person's flow: explicit authorization, holder approval, or a challenge with a PIN.
        foreach (var mode in new[] { AuthorizationMode.Unspecified, AuthorizationMode.HolderApproval })
        {
            var authorize = new AuthorizeSignatureRequest { CredentialId = seal.CredentialId, HashAlgorithm = HashAlgorithm.Sha256, Mode = mode };
            authorize.Hashes.Add(hash);
            if (mode == AuthorizationMode.HolderApproval)
            {
                authorize.ReturnUrl = "http://localhost/done";
            }

            var refused = await Assert.ThrowsAsync<RpcException>(() => system.Signing.AuthorizeSignatureAsync(authorize).ResponseAsync);
            Assert.True(refused.StatusCode is StatusCode.FailedPrecondition or StatusCode.InvalidArgument, refused.ToString());
        }

        var withPin = SealRequest(seal.CredentialId, [hash.ToByteArray()]);
        withPin.ChallengeId = "chal-guess";
        withPin.ActivationPin = "12345678";
        var pinRefused = await Assert.ThrowsAsync<RpcException>(() => system.Signing.SignHashAsync(withPin).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, pinRefused.StatusCode);
        Assert.Contains("seal", pinRefused.Status.Detail, StringComparison.Ordinal);

        // A person's credential through the seal's path (no challenge, no PIN) is refused: a person always approves.
        var person = await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);
        using var partner = Partner(Server.ApiKey("partner"));
        var asSeal = await Assert.ThrowsAsync<RpcException>(() => partner.Signing.SignHashAsync(SealRequest(person.CredentialId, [hash.ToByteArray()])).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, asSeal.StatusCode);
        Assert.Equal(0, AuditCount(Server, person.CredentialId, "signature.created"));

        // Enrolment keeps the kinds apart too, and a seal is bound to partners of the tenant only.
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => op.Credentials.EnrollCredentialAsync(
            new EnrollCredentialRequest { UserId = person.UserId, Level = Level.QualifiedSeal, KeyAlgorithm = DTrust.Signing.V1.KeyAlgorithm.EcP256 }).ResponseAsync)).StatusCode);
        Assert.Equal(StatusCode.InvalidArgument, (await Assert.ThrowsAsync<RpcException>(() => op.Credentials.EnrollSealAsync(
            new EnrollSealRequest { OrganisationId = org, Level = Level.Qualified, KeyAlgorithm = DTrust.Signing.V1.KeyAlgorithm.EcP256, CallerIds = { callerId } }).ResponseAsync)).StatusCode);
        var operatorId = (await op.Credentials.ListCallersAsync(new ListCallersRequest())).Callers.First(c => c.Role == CallerRole.Operator).CallerId;
        var bound = await Assert.ThrowsAsync<RpcException>(() => op.Credentials.EnrollSealAsync(
            new EnrollSealRequest { OrganisationId = org, Level = Level.QualifiedSeal, KeyAlgorithm = DTrust.Signing.V1.KeyAlgorithm.EcP256, CallerIds = { operatorId } }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, bound.StatusCode);
        Assert.Equal(StatusCode.NotFound, (await Assert.ThrowsAsync<RpcException>(() => op.Credentials.EnrollSealAsync(
            new EnrollSealRequest { OrganisationId = "no-such-org", Level = Level.QualifiedSeal, KeyAlgorithm = DTrust.Signing.V1.KeyAlgorithm.EcP256, CallerIds = { callerId } }).ResponseAsync)).StatusCode);

        // One id space for holders and organisations: a credential's user id names exactly one subject.
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() => op.Credentials.UpsertHolderAsync(new UpsertHolderRequest
        {
            Holder = new Holder { UserId = org, GivenName = "Max", Surname = "Muster", Country = "DE", Phone = CredentialLifecycleTests.NewPhone() },
        }).ResponseAsync)).StatusCode);

        // The operator administers the seal but is not one of the organisation's systems.
        Assert.Equal(StatusCode.PermissionDenied, (await Assert.ThrowsAsync<RpcException>(() =>
            op.Signing.SignHashAsync(SealRequest(seal.CredentialId, [hash.ToByteArray()])).ResponseAsync)).StatusCode);
    }

    [Fact]
    public async Task One_operator_can_neither_copy_an_organisation_nor_change_who_it_is()
    {
        using var op = Operator();
        var (org, identifier) = await NewOrganisationAsync(op);
        var current = await op.Credentials.GetOrganisationAsync(new GetOrganisationRequest { OrganisationId = org });

        // A copy under another id (with the operator's own phone) would have its seals confirmed by that phone.
        var copy = new Organisation(current) { OrganisationId = "copy-" + org, RepresentativePhone = CredentialLifecycleTests.NewPhone() };
        var copied = await Assert.ThrowsAsync<RpcException>(() => op.Credentials.UpsertOrganisationAsync(new UpsertOrganisationRequest { Organisation = copy }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, copied.StatusCode);
        Assert.Contains(identifier, copied.Status.Detail, StringComparison.Ordinal);
        using var otherTenant = DTrustClient.Connect(Server.GrpcAddress, apiKey: await Server.AddOperatorAsync("tenant-seal-copy"));
        Assert.Equal(StatusCode.FailedPrecondition, (await Assert.ThrowsAsync<RpcException>(() =>
            otherTenant.Credentials.UpsertOrganisationAsync(new UpsertOrganisationRequest { Organisation = new Organisation(current) }).ResponseAsync)).StatusCode);

        // A new name, identifier or representative waits for the current representative (the code to their phone).
        foreach (var changed in new[]
        {
            new Organisation(current) { Name = "Someone Else AG" },
            new Organisation(current) { Identifier = "NTRDE-HRB" + RandomNumberGenerator.GetInt32(100000, 999999) },
            new Organisation(current) { RepresentativePhone = CredentialLifecycleTests.NewPhone() },
        })
        {
            var waiting = await Assert.ThrowsAsync<RpcException>(() =>
                op.Credentials.UpsertOrganisationAsync(new UpsertOrganisationRequest { Organisation = changed }).ResponseAsync);
            Assert.Equal(StatusCode.FailedPrecondition, waiting.StatusCode);
            Assert.Contains("current representative's confirmation", waiting.Status.Detail, StringComparison.Ordinal);
            Assert.Equal(current, await op.Credentials.GetOrganisationAsync(new GetOrganisationRequest { OrganisationId = org }));
        }

        // The evidence text alone is the operator's to update.
        var evidence = new Organisation(current) { RepresentativeEvidence = "register extract of 2026-12-04" };
        Assert.Equal(evidence.RepresentativeEvidence, (await op.Credentials.UpsertOrganisationAsync(new UpsertOrganisationRequest { Organisation = evidence })).RepresentativeEvidence);
    }

    [Fact]
    public async Task A_revoked_seal_stops_at_once_ocsp_says_revoked_and_its_key_leaves_the_token()
    {
        using var op = Operator();
        var (org, _) = await NewOrganisationAsync(op);
        var (callerId, key) = await NewPartnerAsync(op);
        var seal = await EnrolSealAsync(Server, op, org, Level.QualifiedSeal, DTrust.Signing.V1.KeyAlgorithm.EcP256, callerId);
        using var system = Partner(key);
        var hash = SHA256.HashData("invoice 1"u8);
        Assert.Single((await system.Signing.SignHashAsync(SealRequest(seal.CredentialId, [hash]))).Signatures);
        var label = "seal:" + seal.CredentialId;
        Assert.Contains(label, await TokenObjectsAsync("seal-qualified"), StringComparison.Ordinal);

        var pem = await WritePemAsync(_dir, "seal.pem", seal.Certificate);
        string[] ask = ["ocsp", "-issuer", Server.Pki("ca-seal-qualified.pem"), "-cert", pem, "-url", new Uri(Server.HttpAddress, "/ocsp").ToString(),
            "-CAfile", Server.Pki("root.pem"), "-VAfile", Server.Pki("ocsp-seal-qualified.pem"), "-no_nonce"];
        Assert.Contains($"{pem}: good", (await OpensslAsync(ask)).EnsureSuccess("ocsp good").StdOut, StringComparison.Ordinal);

        await op.Credentials.RevokeCredentialAsync(new RevokeCredentialRequest { CredentialId = seal.CredentialId, Reason = RevocationReason.KeyCompromise });
        var refused = await Assert.ThrowsAsync<RpcException>(() => system.Signing.SignHashAsync(SealRequest(seal.CredentialId, [hash])).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, refused.StatusCode);
        var revoked = (await OpensslAsync(ask)).EnsureSuccess("ocsp revoked");
        Assert.Contains("Response verify OK", revoked.StdOut + revoked.StdErr, StringComparison.Ordinal);
        Assert.Contains($"{pem}: revoked", revoked.StdOut, StringComparison.Ordinal);
        Assert.DoesNotContain(label, await TokenObjectsAsync("seal-qualified"), StringComparison.Ordinal);
        Assert.Equal(1, AuditCount(Server, seal.CredentialId, "seal.key_destroyed", "ok"));
        Assert.Equal(1, AuditedSignatures(Server, seal.CredentialId));
    }

    [Fact]
    public async Task A_cades_seal_with_timestamp_verifies_with_openssl_cms_and_pkijs()
    {
        using var op = Operator();
        var (org, _) = await NewOrganisationAsync(op);
        var (callerId, key) = await NewPartnerAsync(op);
        var seal = await EnrolSealAsync(Server, op, org, Level.QualifiedSeal, DTrust.Signing.V1.KeyAlgorithm.Rsa3072, callerId);
        using var system = Partner(key);
        var file = Path.Combine(_dir, "statement.txt");
        await File.WriteAllTextAsync(file, "account statement 2026-11 " + Guid.NewGuid());
        var request = SealRequest(seal.CredentialId, [SHA256.HashData(await File.ReadAllBytesAsync(file))]);
        request.SignatureFormat = SignatureFormat.CmsDetached;
        request.Timestamp = true;
        request.RsaPadding = RsaPadding.Pss;
        var p7s = file + ".p7s";
        await File.WriteAllBytesAsync(p7s, (await system.Signing.SignHashAsync(request)).Signatures[0].ToByteArray());

        var cms = await OpensslAsync("cms", "-verify", "-binary", "-content", file, "-inform", "DER", "-in", p7s,
            "-CAfile", Server.Pki("root.pem"), "-purpose", "any", "-out", "/dev/null");
        Assert.True(cms.ExitCode == 0, "openssl cms -verify: " + cms.StdErr);

        var result = await PeerSigningTests.PkiJsAsync(p7s, file, Server.Pki("root.pem"), Server.Pki("tsa.pem"));
        Assert.True(result.GetProperty("signatureVerified").GetBoolean(), result.ToString());
        Assert.True(result.GetProperty("chainVerified").GetBoolean(), result.ToString());
        Assert.True(result.GetProperty("timestampSignatureVerified").GetBoolean(), result.ToString());
    }

    internal static async Task<(string Id, string Identifier)> NewOrganisationAsync(DTrustClient op)
    {
        var id = "org-" + Guid.NewGuid().ToString("N")[..10];
        var identifier = "NTRDE-HRB" + RandomNumberGenerator.GetInt32(10000, 99999).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await op.Credentials.UpsertOrganisationAsync(new UpsertOrganisationRequest
        {
            Organisation = new Organisation
            {
                OrganisationId = id,
                Name = "Musterversicherung AG",
                Country = "DE",
                Identifier = identifier,
                Representative = "Max Mustermann (Vorstand)",
                RepresentativeEvidence = "commercial register extract, Amtsgericht Berlin-Charlottenburg, 2026-11-30",
                RepresentativePhone = CredentialLifecycleTests.NewPhone(),
                EvidenceVerifiedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-1)),
            },
        });
        return (id, identifier);
    }

    internal static async Task<(string Id, string ApiKey)> NewPartnerAsync(DTrustClient op)
    {
        var created = await op.Credentials.CreateCallerAsync(new CreateCallerRequest { Name = "billing-" + Guid.NewGuid().ToString("N")[..6], Role = CallerRole.Partner });
        return (created.Caller.CallerId, created.ApiKey);
    }

    /// <summary>EnrollSeal as the README shows it: the first call sends the representative a code, the second brings it.</summary>
    internal static async Task<Credential> EnrolSealAsync(
        ServerProcess server, DTrustClient op, string org, Level level, DTrust.Signing.V1.KeyAlgorithm algorithm, params string[] callers)
    {
        var request = new EnrollSealRequest { OrganisationId = org, Level = level, KeyAlgorithm = algorithm, CallerIds = { callers } };
        var waiting = await Assert.ThrowsAsync<RpcException>(() => op.Credentials.EnrollSealAsync(request).ResponseAsync);
        Assert.True(waiting.StatusCode == StatusCode.FailedPrecondition && waiting.Status.Detail.Contains("representative's confirmation", StringComparison.Ordinal),
            waiting.ToString());
        request.ConfirmationCode = await ServerProcess.OutboxCodeAsync(server.StateDir, "confirm:seal-enrol:" + org);
        return await op.Credentials.EnrollSealAsync(request);
    }

    internal static SignHashRequest SealRequest(string credentialId, IEnumerable<byte[]> hashes)
    {
        var request = new SignHashRequest { CredentialId = credentialId, HashAlgorithm = HashAlgorithm.Sha256, SignatureFormat = SignatureFormat.Raw };
        request.Hashes.AddRange(hashes.Select(ByteString.CopyFrom));
        return request;
    }

    private DTrustClient Operator() => DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("operator"));

    private DTrustClient Partner(string key) => DTrustClient.Connect(Server.GrpcAddress, apiKey: key);

    /// <summary>The labels of the private keys on one of the server's tokens, as pkcs11-tool (OpenSC) lists them.</summary>
    private async Task<string> TokenObjectsAsync(string token)
    {
        var r = await ProcessRunner.RunAsync(ProcessRunner.RequireTool("pkcs11-tool"),
        [
            "--module", SoftHsmEnvironment.DefaultModule, "--token-label", token, "--login",
            "--pin", (await File.ReadAllTextAsync(Server.HsmPinFile(token))).Trim(), "--list-objects", "--type", "privkey",
        ], new Dictionary<string, string> { ["SOFTHSM2_CONF"] = Server.HsmConfPath });
        return r.EnsureSuccess("pkcs11-tool --list-objects").StdOut;
    }
}
