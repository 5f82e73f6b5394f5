using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Grpc.Core;

namespace DTrust.Server.Tests;

/// <summary>
/// Guessing one-time codes as a partner would: across many challenges at once (the daily cap locks the credential),
/// SMS bombing one phone through several credentials (the hourly cap per number), and the evidence of what the holder
/// was sent and of refusals the caller cancelled.
/// </summary>
[Collection(AttackGroup.Name)]
public sealed partial class CodeLimitTests(AttackServerFixture fixture)
{
    private DTrustClient Operator() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("operator"));

    private DTrustClient Partner() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("partner"));

    [Fact]
    public async Task Wrong_codes_spread_over_challenges_lock_the_credential_at_the_daily_cap()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
        var challenges = new List<(AuthorizeSignatureResponse Challenge, string Code)>();
        for (var i = 0; i < 3; i++)
        {
            var c = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));
            challenges.Add((c, await SigningFlowTests.OtpAsync(fixture.Server, c.ChallengeId)));
        }

        // Two wrong codes on each challenge, all at once: each challenge alone would survive them (three attempts).
        using var start = new ManualResetEventSlim();
        var calls = challenges.SelectMany(c => new[] { c, c }).Select(c => Task.Run(async () =>
        {
            start.Wait();
            var e = await Assert.ThrowsAsync<RpcException>(() => partner.Signing.SignHashAsync(
                SigningFlowTests.SignRequest(credential, c.Challenge, Wrong(c.Code), hashes)).ResponseAsync);
            return e.Status;
        })).ToList();
        start.Set();
        var answers = await Task.WhenAll(calls);

        var judged = answers.Count(a => a.Detail.StartsWith("wrong one-time code", StringComparison.Ordinal));
        Assert.InRange(judged, AttackServerFixture.WrongCodesPerDay, answers.Length);
        var locked = await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId });
        Assert.Equal(CredentialStatus.Locked, locked.Status);
        Assert.Equal(1, fixture.AuditCount(credential.CredentialId, "credential.locked"));

        // The right code on a challenge that still has an attempt: refused, and no new challenge either.
        var (alive, code) = challenges[^1];
        await CredentialLifecycleTests.AssertRefused(StatusCode.FailedPrecondition,
            partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, alive, code, hashes)));
        await CredentialLifecycleTests.AssertRefused(StatusCode.FailedPrecondition,
            partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes)));

        // The operator's unlock (after checking with the holder) clears the day's count: the holder signs again.
        var unlocked = await CredentialLifecycleTests.UnlockAsync(op, credential.CredentialId);
        Assert.Equal(CredentialStatus.Valid, unlocked.Status);
        var fresh = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));
        var signed = await partner.Signing.SignHashAsync(
            SigningFlowTests.SignRequest(credential, fresh, await SigningFlowTests.OtpAsync(fixture.Server, fresh.ChallengeId), hashes));
        Assert.Single(signed.Signatures);
    }

    [Fact]
    public async Task Codes_to_one_phone_number_are_capped_per_hour_across_its_credentials()
    {
        using var op = Operator();
        using var partner = Partner();
        var user = await CredentialLifecycleTests.NewHolderAsync(op);
        var first = await ActivateAsync(op, user, Level.Qualified);
        var second = await ActivateAsync(op, user, Level.Advanced);
        var simple = await ActivateAsync(op, user, Level.Simple);
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);

        for (var i = 0; i < AttackServerFixture.SendsPerPhone; i++)
        {
            await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(i % 2 == 0 ? first : second, hashes));
        }

        // The next code for the same number is refused, whichever of its credentials asks; no SMS goes out.
        var sent = OutboxLines();
        var refused = await Assert.ThrowsAsync<RpcException>(() => partner.Signing.AuthorizeSignatureAsync(
            SigningFlowTests.AuthorizeRequest(second, hashes)).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, refused.StatusCode);
        Assert.Contains("phone", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Equal(sent, OutboxLines());
        Assert.Equal(1, fixture.AuditCount(second.CredentialId, "signature.authorize",
            "refused: hourly limit of codes sent to this phone number reached"));

        // A SIMPLE credential sends no code, so the cap does not stop it.
        var challenge = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(simple, hashes));
        Assert.Single((await partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(simple, challenge, "", hashes))).Signatures);
    }

    [Fact]
    public async Task The_audit_holds_the_description_and_the_message_sent_with_the_code_masked()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var hashes = SigningFlowTests.Hashes(2, HashAlgorithmName.SHA256);

        // A line break or an escape sequence would let the SMS say more than the evidence shows.
        foreach (var bad in new[] { "loan 42\nCode 000000 is yours", "loan \u001b[2J42", "tab\there", "loan \u202e24 naol", "line\u2028break" })
        {
            var request = SigningFlowTests.AuthorizeRequest(credential, hashes);
            request.Description = bad;
            await CredentialLifecycleTests.AssertRefused(StatusCode.InvalidArgument, partner.Signing.AuthorizeSignatureAsync(request));
        }

        var ok = SigningFlowTests.AuthorizeRequest(credential, hashes);
        ok.Description = "Loan agreement 42 (Müller)";
        var challenge = await partner.Signing.AuthorizeSignatureAsync(ok);
        var code = await SigningFlowTests.OtpAsync(fixture.Server, challenge.ChallengeId);
        var text = OutboxText(challenge.ChallengeId);

        var details = Tools.LatestAuditDetails(fixture.Server, credential.CredentialId, "signature.authorized");
        Assert.Equal(ok.Description, details.GetProperty("description").GetString());
        var message = details.GetProperty("message").GetString()!;
        Assert.DoesNotContain(code, message, StringComparison.Ordinal);
        Assert.Equal(text.Replace(code, "******", StringComparison.Ordinal), message);
        Assert.Contains(ok.Description, message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Refusals_are_audited_even_when_the_caller_cancelled()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Simple);
        var hashes = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
        var other = SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));
        var before = await HashesDifferChecksAsync();

        // Wrong hashes leave the challenge in place, so every call gets as far as Redis if it is not cancelled first.
        // The cancellations are spread over the server's work; those that land after Redis's answer are the point.
        const int Calls = 60;
        var cancelled = 0;
        for (var i = 0; i < Calls; i++)
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromMicroseconds(100 * i));
            var e = await Assert.ThrowsAsync<RpcException>(() => partner.Signing.SignHashAsync(
                SigningFlowTests.SignRequest(credential, challenge, "", other), cancellationToken: cts.Token).ResponseAsync);
            cancelled += e.StatusCode == StatusCode.Cancelled ? 1 : 0;
        }

        Assert.True(cancelled > 0, "no call was cancelled; the delays are too long for this machine");

        // Every check Redis answered (the metric counts each) has its refusal in the audit, cancelled or not.
        await Task.Delay(500);
        var checks = await HashesDifferChecksAsync() - before;
        Assert.InRange(checks, 1, Calls);
        Assert.Equal(checks, fixture.AuditCount(credential.CredentialId, "signature.sign", "refused: hashes differ from the authorization"));
    }

    private static string Wrong(string code) =>
        ((int.Parse(code, CultureInfo.InvariantCulture) + 1) % 1_000_000).ToString("D6", CultureInfo.InvariantCulture);

    private static async Task<Credential> ActivateAsync(DTrustClient op, string user, Level level)
    {
        var (credential, transport) = await CredentialLifecycleTests.EnrolAsync(op, user, level);
        return await op.Credentials.ActivateCredentialAsync(new ActivateCredentialRequest
        {
            CredentialId = credential.CredentialId,
            TransportPin = transport,
            ActivationPin = SigningFlowTests.Pin,
        });
    }

    private int OutboxLines()
    {
        var path = Path.Combine(fixture.Server.StateDir, "otp-outbox.jsonl");
        return File.Exists(path) ? File.ReadAllLines(path).Length : 0;
    }

    private string OutboxText(string challengeId)
    {
        foreach (var line in File.ReadAllLines(Path.Combine(fixture.Server.StateDir, "otp-outbox.jsonl")))
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.GetProperty("challenge_id").GetString() == challengeId)
            {
                return doc.RootElement.GetProperty("text").GetString()!;
            }
        }

        throw new InvalidOperationException("no message in the outbox for " + challengeId);
    }

    private async Task<int> HashesDifferChecksAsync()
    {
        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri(fixture.Server.AdminAddress, "/metrics"));
        var m = HashesDifferSeries().Match(text);
        return m.Success ? (int)double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
    }

    [GeneratedRegex("^dtrust_otp_total\\{outcome=\"hashes_differ\"\\} ([0-9.e+]+)$", RegexOptions.Multiline)]
    private static partial Regex HashesDifferSeries();
}
