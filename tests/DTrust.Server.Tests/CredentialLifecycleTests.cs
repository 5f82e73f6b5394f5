using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;

namespace DTrust.Server.Tests;

/// <summary>The credential status machine through CredentialService on the real server, as the dev operator.</summary>
[Collection(ServerGroup.Name)]
public sealed class CredentialLifecycleTests(ServerFixture fixture)
{
    private DTrustClient Operator() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("operator"));

    private DTrustClient Partner() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("partner"));

    /// <summary>
    /// A phone number of its own for each test holder: the server limits the codes sent to one number an hour, and
    /// the suite's tests share a server.
    /// </summary>
    internal static string NewPhone() =>
        "+49151" + System.Security.Cryptography.RandomNumberGenerator.GetInt32(100_000_000).ToString("D8", System.Globalization.CultureInfo.InvariantCulture);

    internal static async Task<string> NewHolderAsync(DTrustClient client, bool identified = true, string? phone = null)
    {
        phone ??= NewPhone();
        var user = "user-" + Guid.NewGuid().ToString("N")[..10];
        await client.Credentials.UpsertHolderAsync(new UpsertHolderRequest
        {
            Holder = new Holder { UserId = user, GivenName = "Erika", Surname = "Mustermann", Country = "DE", Phone = phone },
        });
        if (identified)
        {
            await client.Credentials.RecordIdentificationAsync(new RecordIdentificationRequest
            {
                UserId = user,
                Identification = new Identification
                {
                    Method = IdentificationMethod.VideoIdent,
                    VerifiedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-1)),
                    ValidUntil = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddYears(2)),
                },
            });
        }

        return user;
    }

    internal static async Task<(Credential Credential, string TransportPin)> EnrolAsync(
        DTrustClient client, string user, Level level, KeyAlgorithm algorithm = KeyAlgorithm.EcP256, string organisation = "")
    {
        var r = await client.Credentials.EnrollCredentialAsync(new EnrollCredentialRequest
        {
            UserId = user,
            Level = level,
            KeyAlgorithm = algorithm,
            Organisation = organisation,
        });
        return (r.Credential, await TransportPinAsync(client, r.Credential.CredentialId));
    }

    /// <summary>
    /// Unlocks as the operator and the holder do: the first call sends the holder a code (and is refused until it
    /// comes back), the second carries the code from the holder's phone (the development outbox).
    /// </summary>
    internal static async Task<Credential> UnlockAsync(DTrustClient op, string credentialId)
    {
        var asked = await Assert.ThrowsAsync<Grpc.Core.RpcException>(() =>
            op.Credentials.UnlockCredentialAsync(new UnlockCredentialRequest { CredentialId = credentialId }).ResponseAsync);
        Assert.True(asked.StatusCode == StatusCode.FailedPrecondition, asked.Status.ToString());
        Assert.Contains("holder's confirmation", asked.Status.Detail, StringComparison.Ordinal);
        var port = int.Parse(op.Target[(op.Target.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var code = await ServerProcess.OutboxCodeAsync(ServerProcess.StateDirOf(port), "confirm:unlock:" + credentialId);
        return await op.Credentials.UnlockCredentialAsync(new UnlockCredentialRequest { CredentialId = credentialId, ConfirmationCode = code });
    }

    /// <summary>The transport PIN the server sent the holder of <paramref name="credentialId"/> (the development outbox).</summary>
    internal static Task<string> TransportPinAsync(DTrustClient client, string credentialId)
    {
        var port = int.Parse(client.Target[(client.Target.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        return ServerProcess.OutboxCodeAsync(ServerProcess.StateDirOf(port), "transport-pin:" + credentialId);
    }

    [Fact]
    public async Task The_transport_pin_goes_to_the_holder_and_never_to_the_operator()
    {
        using var client = Operator();
        var phone = NewPhone();
        var user = await NewHolderAsync(client, phone: phone);
        var response = await client.Credentials.EnrollCredentialAsync(new EnrollCredentialRequest
        {
            UserId = user,
            Level = Level.Qualified,
            KeyAlgorithm = KeyAlgorithm.EcP256,
        });

        // The holder's phone got it (the development outbox stands in for the SMS).
        var id = response.Credential.CredentialId;
        var outbox = await File.ReadAllLinesAsync(Path.Combine(fixture.Server.StateDir, "otp-outbox.jsonl"));
        using var letter = System.Text.Json.JsonDocument.Parse(outbox.Single(l => l.Contains("transport-pin:" + id, StringComparison.Ordinal)));
        var pin = letter.RootElement.GetProperty("otp").GetString()!;
        Assert.Matches("^[0-9]{10}$", pin);
        Assert.Equal(phone, letter.RootElement.GetProperty("phone").GetString());
        Assert.Contains(pin, letter.RootElement.GetProperty("text").GetString()!, StringComparison.Ordinal);

        // Nothing the operator received holds it: not the answer's bytes, not a field unknown to this client.
        var wire = Google.Protobuf.MessageExtensions.ToByteArray(response);
        Assert.Equal(-1, wire.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(pin)));
        Assert.Null(EnrollCredentialResponse.Descriptor.FindFieldByNumber(2));

        // The audit shows that it was sent and what the message said, with the PIN masked.
        var enrolled = Tools.LatestAuditDetails(fixture.Server, id, "credential.enrolled").GetRawText();
        Assert.Contains("**********", enrolled, StringComparison.Ordinal);
        Assert.DoesNotContain(pin, enrolled, StringComparison.Ordinal);

        // The holder activates with it.
        var active = await client.Credentials.ActivateCredentialAsync(
            new ActivateCredentialRequest { CredentialId = id, TransportPin = pin, ActivationPin = "12345678" });
        Assert.Equal(CredentialStatus.Valid, active.Status);
    }

    [Fact]
    public async Task Enrol_activate_revoke_walks_the_status_machine()
    {
        using var client = Operator();
        var user = await NewHolderAsync(client);
        var (credential, transport) = await EnrolAsync(client, user, Level.Qualified);
        Assert.Equal(CredentialStatus.NotActivated, credential.Status);
        Assert.Matches("^[0-9]{10}$", transport);
        Assert.Equal(2, credential.CertificateChain.Count);

        // Activating with a wrong transport PIN counts, and leaves it NOT_ACTIVATED.
        var wrong = await Assert.ThrowsAsync<RpcException>(() => client.Credentials.ActivateCredentialAsync(
            new ActivateCredentialRequest { CredentialId = credential.CredentialId, TransportPin = "0000000000", ActivationPin = "123456" }).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, wrong.StatusCode);
        var afterWrong = await client.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId });
        Assert.Equal((CredentialStatus.NotActivated, 1), (afterWrong.Status, afterWrong.FailedPinCount));

        var active = await client.Credentials.ActivateCredentialAsync(
            new ActivateCredentialRequest { CredentialId = credential.CredentialId, TransportPin = transport, ActivationPin = "12345678" });
        Assert.Equal((CredentialStatus.Valid, 0), (active.Status, active.FailedPinCount));

        // Activate twice, unlock a credential that is not locked, consent on QUALIFIED: each refused, nothing changed.
        await AssertRefused(StatusCode.FailedPrecondition, client.Credentials.ActivateCredentialAsync(
            new ActivateCredentialRequest { CredentialId = credential.CredentialId, TransportPin = transport, ActivationPin = "87654321" }));
        await AssertRefused(StatusCode.FailedPrecondition, client.Credentials.UnlockCredentialAsync(
            new UnlockCredentialRequest { CredentialId = credential.CredentialId }));
        await AssertRefused(StatusCode.FailedPrecondition, client.Credentials.SetOneFactorConsentAsync(
            new SetOneFactorConsentRequest { CredentialId = credential.CredentialId, Consent = true }));

        var revoking = await client.Credentials.RevokeCredentialAsync(
            new RevokeCredentialRequest { CredentialId = credential.CredentialId, Reason = RevocationReason.KeyCompromise });
        Assert.Equal(CredentialStatus.RevocationInProgress, revoking.Status);
        var status = await Tools.PollStatusAsync(client, credential.CredentialId, CredentialStatus.Revoked);
        Assert.Equal(CredentialStatus.Revoked, status);

        await AssertRefused(StatusCode.FailedPrecondition, client.Credentials.UnlockCredentialAsync(
            new UnlockCredentialRequest { CredentialId = credential.CredentialId }));
        await AssertRefused(StatusCode.FailedPrecondition, client.Credentials.RevokeCredentialAsync(
            new RevokeCredentialRequest { CredentialId = credential.CredentialId }));
    }

    [Fact]
    public async Task Enrolment_needs_current_identification()
    {
        using var client = Operator();
        var user = await NewHolderAsync(client, identified: false);
        await AssertRefused(StatusCode.FailedPrecondition, client.Credentials.EnrollCredentialAsync(
            new EnrollCredentialRequest { UserId = user, Level = Level.Advanced, KeyAlgorithm = KeyAlgorithm.EcP256 }));

        // Identified, then the name changes: the identification is stale until new evidence is recorded (a new phone
        // number too, once the holder confirmed it: OperatorPowerTests).
        var identified = await NewHolderAsync(client);
        var holder = await client.Credentials.GetHolderAsync(new GetHolderRequest { UserId = identified });
        var changed = await client.Credentials.UpsertHolderAsync(new UpsertHolderRequest
        {
            Holder = new Holder { UserId = identified, GivenName = "Erika", Surname = "Gabler", Country = "DE", Phone = holder.Phone },
        });
        Assert.True(changed.IdentificationStale);
        await AssertRefused(StatusCode.FailedPrecondition, client.Credentials.EnrollCredentialAsync(
            new EnrollCredentialRequest { UserId = identified, Level = Level.Advanced, KeyAlgorithm = KeyAlgorithm.EcP256 }));
    }

    [Fact]
    public async Task Five_wrong_transport_pins_lock_and_unlock_keeps_the_old_pin()
    {
        using var client = Operator();
        var user = await NewHolderAsync(client);
        var (credential, transport) = await EnrolAsync(client, user, Level.Advanced);
        for (var i = 0; i < 5; i++)
        {
            await AssertRefused(StatusCode.FailedPrecondition, client.Credentials.ActivateCredentialAsync(
                new ActivateCredentialRequest { CredentialId = credential.CredentialId, TransportPin = "1111111111", ActivationPin = "123456" }));
        }

        var locked = await client.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId });
        Assert.Equal(CredentialStatus.Locked, locked.Status);

        // Locked: even the right transport PIN is refused.
        await AssertRefused(StatusCode.FailedPrecondition, client.Credentials.ActivateCredentialAsync(
            new ActivateCredentialRequest { CredentialId = credential.CredentialId, TransportPin = transport, ActivationPin = "123456" }));

        var unlocked = await UnlockAsync(client, credential.CredentialId);
        Assert.Equal((CredentialStatus.NotActivated, 0), (unlocked.Status, unlocked.FailedPinCount));
        var active = await client.Credentials.ActivateCredentialAsync(
            new ActivateCredentialRequest { CredentialId = credential.CredentialId, TransportPin = transport, ActivationPin = "123456" });
        Assert.Equal(CredentialStatus.Valid, active.Status);
    }

    [Fact]
    public async Task One_factor_consent_is_for_advanced_only()
    {
        using var client = Operator();
        var user = await NewHolderAsync(client);
        var (advanced, _) = await EnrolAsync(client, user, Level.Advanced);
        var (simple, _) = await EnrolAsync(client, user, Level.Simple);
        var consented = await client.Credentials.SetOneFactorConsentAsync(
            new SetOneFactorConsentRequest { CredentialId = advanced.CredentialId, Consent = true });
        Assert.True(consented.OneFactorConsent);
        await AssertRefused(StatusCode.FailedPrecondition, client.Credentials.SetOneFactorConsentAsync(
            new SetOneFactorConsentRequest { CredentialId = simple.CredentialId, Consent = true }));
    }

    [Fact]
    public async Task Callers_are_authenticated_and_need_the_right_role()
    {
        using (var anonymous = DTrustClient.Connect(fixture.Server.GrpcAddress))
        {
            await AssertRefused(StatusCode.Unauthenticated, anonymous.Credentials.ListCredentialsAsync(new ListCredentialsRequest()));
        }

        using (var bogus = DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: "dtk_not-a-key"))
        {
            await AssertRefused(StatusCode.Unauthenticated, bogus.Credentials.ListCredentialsAsync(new ListCredentialsRequest()));
        }

        using var partner = Partner();
        await AssertRefused(StatusCode.PermissionDenied, partner.Credentials.EnrollCredentialAsync(
            new EnrollCredentialRequest { UserId = "x", Level = Level.Simple, KeyAlgorithm = KeyAlgorithm.EcP256 }));
        await partner.Credentials.ListCredentialsAsync(new ListCredentialsRequest());

        // A revoked key stops working.
        using var op = Operator();
        var created = await op.Credentials.CreateCallerAsync(new CreateCallerRequest { Name = "temp", Role = CallerRole.Partner });
        using (var temp = DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: created.ApiKey))
        {
            await temp.Credentials.ListCredentialsAsync(new ListCredentialsRequest());
            await op.Credentials.RevokeCallerAsync(new RevokeCallerRequest { CallerId = created.Caller.CallerId });
            await AssertRefused(StatusCode.Unauthenticated, temp.Credentials.ListCredentialsAsync(new ListCredentialsRequest()));
        }
    }

    [Fact]
    public async Task A_credential_of_another_tenant_is_not_found_like_a_missing_one()
    {
        using var op = Operator();
        var user = await NewHolderAsync(op);
        var (credential, _) = await EnrolAsync(op, user, Level.Simple);

        using var other = DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: await fixture.Server.AddOperatorAsync("tenant-b"));
        var foreign = await Assert.ThrowsAsync<RpcException>(() =>
            other.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId }).ResponseAsync);
        var missing = await Assert.ThrowsAsync<RpcException>(() =>
            other.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = "cred_does-not-exist" }).ResponseAsync);
        Assert.Equal((StatusCode.NotFound, missing.Status.Detail), (foreign.StatusCode, foreign.Status.Detail));
        await AssertRefused(StatusCode.NotFound, other.Credentials.RevokeCredentialAsync(new RevokeCredentialRequest { CredentialId = credential.CredentialId }));
        Assert.Empty((await other.Credentials.ListCredentialsAsync(new ListCredentialsRequest { UserId = user })).Credentials);

        // Nothing changed for the owner.
        Assert.Equal(CredentialStatus.NotActivated, (await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId })).Status);
    }

    internal static async Task AssertRefused<T>(StatusCode expected, AsyncUnaryCall<T> call)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.True(expected == e.StatusCode, $"expected {expected}, got {e.StatusCode}: {e.Status.Detail}");
    }
}
