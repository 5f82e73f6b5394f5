using System.Security.Cryptography;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Grpc.Core;
using Microsoft.Data.Sqlite;

namespace DTrust.Server.Tests;

/// <summary>
/// One server for the attack tests (PIN attempts, code guessing): enough challenges a minute for one credential to
/// hold 21 at once, and small code limits (a daily cap of <see cref="WrongCodesPerDay"/> wrong codes, and
/// <see cref="SendsPerPhone"/> codes an hour to one phone number) so that reaching them takes a few calls.
/// </summary>
public sealed class AttackServerFixture : IAsyncLifetime
{
    public const int WrongCodesPerDay = 4;
    public const int SendsPerPhone = 6;

    private ServerProcess? _server;

    public ServerProcess Server => _server ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _server = await ServerProcess.StartAsync(new Dictionary<string, string>
    {
        ["DTrust__Signing__OtpFailuresPerDay"] = WrongCodesPerDay.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["DTrust__Signing__OtpSendsPerPhonePerHour"] = SendsPerPhone.ToString(System.Globalization.CultureInfo.InvariantCulture),
    }.With(FailClosed.ManyChallenges));

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }

    public int AuditCount(string credentialId, string action, string? outcome = null) => Tools.AuditCount(Server, credentialId, action, outcome);
}

[CollectionDefinition(Name)]
public sealed class AttackGroup : ICollectionFixture<AttackServerFixture>
{
    public const string Name = "attacks";
}

/// <summary>
/// The five-wrong-PINs lock as a partner would attack it: many SignHash or ActivateCredential calls with wrong PINs
/// at once, and calls cancelled while the server works. At most five PINs are ever judged by the HSM.
/// </summary>
[Collection(AttackGroup.Name)]
public sealed class PinAttemptTests(AttackServerFixture fixture)
{
    private const int Calls = 20;

    private DTrustClient Operator() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("operator"));

    private DTrustClient Partner() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("partner"));

    [Fact]
    public async Task Twenty_concurrent_wrong_pins_get_at_most_five_hsm_answers_and_lock()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Simple);
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
        var challenges = new List<AuthorizeSignatureResponse>();
        for (var i = 0; i <= Calls; i++)
        {
            challenges.Add(await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes)));
        }

        using var start = new ManualResetEventSlim();
        var calls = challenges.Take(Calls).Select((c, i) => Task.Run(async () =>
        {
            start.Wait();
            var e = await Assert.ThrowsAsync<RpcException>(() => partner.Signing.SignHashAsync(
                SigningFlowTests.SignRequest(credential, c, "", hashes, pin: $"9{i:D7}")).ResponseAsync);
            return e.Status;
        })).ToList();
        start.Set();
        var answers = await Task.WhenAll(calls);

        Assert.All(answers, a => Assert.Equal(StatusCode.FailedPrecondition, a.StatusCode));
        var judged = answers.Count(a => !a.Detail.Contains("LOCKED", StringComparison.Ordinal));
        Assert.InRange(judged, 1, CredentialRegistryLimit);
        Assert.All(answers.Where(a => !a.Detail.Contains("LOCKED", StringComparison.Ordinal)), a => Assert.Equal("wrong PIN", a.Detail));
        var locked = await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId });
        Assert.Equal((CredentialStatus.Locked, CredentialRegistryLimit), (locked.Status, locked.FailedPinCount));

        // The right PIN on the last live challenge: refused, the credential stays LOCKED.
        var right = await Assert.ThrowsAsync<RpcException>(() => partner.Signing.SignHashAsync(
            SigningFlowTests.SignRequest(credential, challenges[Calls], "", hashes)).ResponseAsync);
        Assert.Equal(StatusCode.FailedPrecondition, right.StatusCode);
        Assert.Contains("LOCKED", right.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(CredentialRegistryLimit, AuditCount(credential.CredentialId, "pin.wrong"));
        Assert.Equal(1, AuditCount(credential.CredentialId, "credential.locked"));
    }

    [Fact]
    public async Task Twenty_concurrent_wrong_transport_pins_lock_and_unlock_back_to_not_activated()
    {
        using var op = Operator();
        var user = await CredentialLifecycleTests.NewHolderAsync(op);
        var (credential, transport) = await CredentialLifecycleTests.EnrolAsync(op, user, Level.Advanced);

        using var start = new ManualResetEventSlim();
        var calls = Enumerable.Range(0, Calls).Select(i => Task.Run(async () =>
        {
            start.Wait();
            var e = await Assert.ThrowsAsync<RpcException>(() => op.Credentials.ActivateCredentialAsync(new ActivateCredentialRequest
            {
                CredentialId = credential.CredentialId,
                TransportPin = $"1{i:D9}",
                ActivationPin = "12345678",
            }).ResponseAsync);
            return e.Status;
        })).ToList();
        start.Set();
        var answers = await Task.WhenAll(calls);

        Assert.InRange(answers.Count(a => a.Detail == "wrong transport PIN"), 1, CredentialRegistryLimit);
        Assert.All(answers.Where(a => a.Detail != "wrong transport PIN"), a => Assert.Contains("LOCKED", a.Detail, StringComparison.Ordinal));
        var locked = await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId });
        Assert.Equal((CredentialStatus.Locked, CredentialRegistryLimit), (locked.Status, locked.FailedPinCount));
        await CredentialLifecycleTests.AssertRefused(StatusCode.FailedPrecondition, op.Credentials.ActivateCredentialAsync(
            new ActivateCredentialRequest { CredentialId = credential.CredentialId, TransportPin = transport, ActivationPin = "12345678" }));

        var unlocked = await CredentialLifecycleTests.UnlockAsync(op, credential.CredentialId);
        Assert.Equal((CredentialStatus.NotActivated, 0), (unlocked.Status, unlocked.FailedPinCount));
        var active = await op.Credentials.ActivateCredentialAsync(
            new ActivateCredentialRequest { CredentialId = credential.CredentialId, TransportPin = transport, ActivationPin = "12345678" });
        Assert.Equal((CredentialStatus.Valid, 0), (active.Status, active.FailedPinCount));
    }

    [Fact]
    public async Task Cancelled_wrong_pins_are_counted_and_audited_all_the_same()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Simple);
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);

        // Each call is cancelled a little later than the one before, so the cancellations land all along the
        // server's work: before the challenge, before the HSM, in it, and after its answer.
        var cancelled = 0;
        for (var i = 0; i < Calls; i++)
        {
            AuthorizeSignatureResponse challenge;
            try
            {
                challenge = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));
            }
            catch (RpcException refused) when (refused.Status.Detail.Contains("LOCKED", StringComparison.Ordinal))
            {
                break;
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromMicroseconds(250 * i));
            var e = await Assert.ThrowsAsync<RpcException>(() => partner.Signing.SignHashAsync(
                SigningFlowTests.SignRequest(credential, challenge, "", hashes, pin: "99999999"), cancellationToken: cts.Token).ResponseAsync);
            cancelled += e.StatusCode == StatusCode.Cancelled ? 1 : 0;
        }

        // The server finishes what a cancelled call started; give it a moment before reading its store.
        await Task.Delay(500);
        var stored = await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId });
        var spent = AuditCount(credential.CredentialId, "pin.wrong");
        Assert.True(cancelled > 0, "no call was cancelled; the delays are too long for this machine");

        // Every attempt the HSM was given is in the count and in the audit, cancelled or not.
        Assert.Equal(spent, stored.FailedPinCount);
        Assert.Equal(spent >= CredentialRegistryLimit ? CredentialStatus.Locked : CredentialStatus.Valid, stored.Status);
        Assert.InRange(spent, 1, CredentialRegistryLimit);
    }

    private const int CredentialRegistryLimit = 5;

    private int AuditCount(string credentialId, string action) => fixture.AuditCount(credentialId, action);
}
