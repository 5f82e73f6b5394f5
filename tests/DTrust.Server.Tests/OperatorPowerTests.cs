using System.Text.Json;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Grpc.Core;

namespace DTrust.Server.Tests;

/// <summary>
/// What one operator key alone can no longer do to a holder's credential: unlock it (five more PIN guesses) or
/// redirect its codes to another phone without the holder's confirmation or a second operator, or unlock it more
/// than the cap allows. The transport PIN's delivery to the holder is in <see cref="CredentialLifecycleTests"/>.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed class OperatorPowerTests(ServerFixture fixture)
{
    private const int UnlockCap = 3;

    private DTrustClient Operator(string? key = null) =>
        DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: key ?? fixture.Server.ApiKey("operator"));

    [Fact]
    public async Task Unlocking_needs_the_holders_code_and_a_wrong_code_does_not_unlock()
    {
        using var op = Operator();
        var credential = await LockedAsync(op);

        var asked = await Refused(StatusCode.FailedPrecondition, op.Credentials.UnlockCredentialAsync(Unlock(credential)));
        Assert.Contains("holder's confirmation", asked, StringComparison.Ordinal);
        var code = await ServerProcess.OutboxCodeAsync(fixture.Server.StateDir, "confirm:unlock:" + credential);
        Assert.Equal(CredentialStatus.Locked, (await Get(op, credential)).Status);

        // Asking again sends nothing new and unlocks nothing; a wrong code costs one of three attempts.
        Assert.Contains("already waiting", await Refused(StatusCode.FailedPrecondition, op.Credentials.UnlockCredentialAsync(Unlock(credential))),
            StringComparison.Ordinal);
        var wrong = code == "000000" ? "111111" : "000000";
        Assert.Contains("2 attempt(s) left",
            await Refused(StatusCode.PermissionDenied, op.Credentials.UnlockCredentialAsync(Unlock(credential, wrong))), StringComparison.Ordinal);
        Assert.Equal(CredentialStatus.Locked, (await Get(op, credential)).Status);

        var unlocked = await op.Credentials.UnlockCredentialAsync(Unlock(credential, code));
        Assert.Equal(CredentialStatus.NotActivated, unlocked.Status);

        // Used once: the same code cannot unlock again after the next lock.
        await LockAsync(op, credential);
        await Refused(StatusCode.FailedPrecondition, op.Credentials.UnlockCredentialAsync(Unlock(credential, code)));
        Assert.Equal("holder", Tools.LatestAuditDetails(fixture.Server, credential, "credential.unlocked").GetProperty("confirmed_by").GetString());
    }

    [Fact]
    public async Task New_requests_do_not_buy_an_operator_unlimited_guesses_at_the_holders_code()
    {
        using var op = Operator();
        var credential = await LockedAsync(op);
        var guesses = 0;
        string? refusal = null;
        for (var round = 0; round < 10 && refusal is null; round++)
        {
            try
            {
                await op.Credentials.UnlockCredentialAsync(Unlock(credential)).ResponseAsync;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition && e.Status.Detail.Contains("too many wrong", StringComparison.Ordinal))
            {
                refusal = e.Status.Detail;
                break;
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition)
            {
                // Asked: a code went to the holder. Three guesses void it; then ask again.
            }

            for (var i = 0; i < Confirmations; i++)
            {
                try
                {
                    await op.Credentials.UnlockCredentialAsync(Unlock(credential, (100_000 + guesses).ToString(System.Globalization.CultureInfo.InvariantCulture))).ResponseAsync;
                    Assert.Fail("a guessed code unlocked the credential");
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.PermissionDenied)
                {
                    guesses++;
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition)
                {
                    refusal = e.Status.Detail;
                    break;
                }
            }
        }

        // The day's cap of wrong codes (10) holds across requests; the credential stays locked.
        Assert.NotNull(refusal);
        Assert.InRange(guesses, 1, 10);
        Assert.Equal(CredentialStatus.Locked, (await Get(op, credential)).Status);
    }

    private const int Confirmations = 3;

    [Fact]
    public async Task A_second_operator_confirms_an_unlock_the_first_asked_for_and_the_cap_ends_unlocks()
    {
        using var first = Operator();
        // One operator key cannot mint the second pair of eyes: operators come from the host's add-caller.
        await Refused(StatusCode.PermissionDenied, first.Credentials.CreateCallerAsync(new CreateCallerRequest { Name = "my-twin", Role = CallerRole.Operator }));
        using var second = Operator(await fixture.Server.AddCallerAsync("dev", "operator"));
        var credential = await LockedAsync(first);

        for (var round = 1; round <= UnlockCap; round++)
        {
            await Refused(StatusCode.FailedPrecondition, first.Credentials.UnlockCredentialAsync(Unlock(credential)));
            var unlocked = await second.Credentials.UnlockCredentialAsync(Unlock(credential));
            Assert.Equal(CredentialStatus.NotActivated, unlocked.Status);
            var details = Tools.LatestAuditDetails(fixture.Server, credential, "credential.unlocked");
            Assert.Equal(round, details.GetProperty("unlocks").GetInt32());
            Assert.NotEqual("holder", details.GetProperty("confirmed_by").GetString());
            await LockAsync(first, credential);
        }

        // Past the cap neither the holder nor two operators unlock it: it needs a new credential.
        var refused = await Refused(StatusCode.FailedPrecondition, first.Credentials.UnlockCredentialAsync(Unlock(credential)));
        Assert.Contains($"unlocked {UnlockCap} times", refused, StringComparison.Ordinal);
        Assert.Equal(CredentialStatus.Locked, (await Get(first, credential)).Status);
    }

    [Fact]
    public async Task A_new_phone_number_needs_a_code_sent_to_the_old_one()
    {
        using var op = Operator();
        var oldPhone = CredentialLifecycleTests.NewPhone();
        var user = await CredentialLifecycleTests.NewHolderAsync(op, phone: oldPhone);
        var newPhone = CredentialLifecycleTests.NewPhone();

        var asked = await Refused(StatusCode.FailedPrecondition, op.Credentials.UpsertHolderAsync(Holder(user, newPhone)));
        Assert.Contains("current number", asked, StringComparison.Ordinal);
        var (code, to) = await MessageAsync("confirm:phone:" + user);
        Assert.Equal(oldPhone, to);
        Assert.Equal(oldPhone, (await op.Credentials.GetHolderAsync(new GetHolderRequest { UserId = user })).Phone);

        // The code confirms this number only.
        var other = Holder(user, CredentialLifecycleTests.NewPhone(), code);
        await Refused(StatusCode.FailedPrecondition, op.Credentials.UpsertHolderAsync(other));

        var changed = await op.Credentials.UpsertHolderAsync(Holder(user, newPhone, code));
        Assert.Equal(newPhone, changed.Phone);
        Assert.True(changed.IdentificationStale);

        // A change of name alone (same phone) needs no confirmation.
        var renamed = Holder(user, newPhone);
        renamed.Holder.Surname = "Musterfrau";
        Assert.Equal("Musterfrau", (await op.Credentials.UpsertHolderAsync(renamed)).Surname);
    }

    private static UnlockCredentialRequest Unlock(string credential, string code = "") => new() { CredentialId = credential, ConfirmationCode = code };

    private static UpsertHolderRequest Holder(string user, string phone, string code = "") => new()
    {
        Holder = new Holder { UserId = user, GivenName = "Erika", Surname = "Mustermann", Country = "DE", Phone = phone },
        ConfirmationCode = code,
    };

    private static async Task<Credential> Get(DTrustClient op, string credential) =>
        await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential });

    /// <summary>A NOT_ACTIVATED credential locked by five wrong transport PINs.</summary>
    private static async Task<string> LockedAsync(DTrustClient op)
    {
        var user = await CredentialLifecycleTests.NewHolderAsync(op);
        var (credential, _) = await CredentialLifecycleTests.EnrolAsync(op, user, Level.Advanced);
        await LockAsync(op, credential.CredentialId);
        return credential.CredentialId;
    }

    private static async Task LockAsync(DTrustClient op, string credential)
    {
        for (var i = 0; i < 5; i++)
        {
            await Refused(StatusCode.FailedPrecondition, op.Credentials.ActivateCredentialAsync(
                new ActivateCredentialRequest { CredentialId = credential, TransportPin = "0000000000", ActivationPin = "12345678" }));
        }

        Assert.Equal(CredentialStatus.Locked, (await Get(op, credential)).Status);
    }

    private static async Task<string> Refused<T>(StatusCode expected, AsyncUnaryCall<T> call)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.True(expected == e.StatusCode, $"expected {expected}, got {e.StatusCode}: {e.Status.Detail}");
        return e.Status.Detail;
    }

    private async Task<(string Code, string Phone)> MessageAsync(string id)
    {
        var code = await ServerProcess.OutboxCodeAsync(fixture.Server.StateDir, id);
        foreach (var line in await File.ReadAllLinesAsync(Path.Combine(fixture.Server.StateDir, "otp-outbox.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.GetProperty("challenge_id").GetString() == id)
            {
                return (code, doc.RootElement.GetProperty("phone").GetString()!);
            }
        }

        throw new InvalidOperationException("no message " + id);
    }
}
