using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Signing;
using DTrust.Store;

namespace DTrust.SigningServer.Factors;

/// <summary>
/// The SMS one-time code: six digits from a CSPRNG to the holder's phone on record, with the partner's name, the
/// description and the number of documents. The challenge keeps only HMAC(secret, challenge id ‖ code)
/// (<see cref="OneTimeCodes.Mac"/>), and a response's proof is the same MAC of what the partner relayed.
/// </summary>
public sealed class SmsCodeFactor(OneTimeCodes codes, IOtpSender sender, SmsSendLimits sends) : ISecondFactor
{
    public const string FactorName = "sms";

    public string Name => FactorName;

    public string ResponseName => "one-time code";

    public async Task<IssuedFactor> IssueAsync(FactorRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        await sends.RequireSignatureSendAsync(request.Partner.Id, request.Holder.Phone);
        var code = OneTimeCodes.NewCode();
        var text = Text(request, code);

        // The audit keeps the same text with the code masked, so it shows what the holder read.
        var masked = Text(request, new string('*', code.Length));
        var message = new OtpMessage(request.ChallengeId, request.Credential.Id, request.Holder.Phone, code, text);
        return new IssuedFactor(codes.Mac(request.ChallengeId, code), masked, token => DeliverAsync(message, token));
    }

    public ValueTask<FactorProof> ProofAsync(FactorResponse response, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(response);
        return ValueTask.FromResult(new FactorProof(codes.Mac(response.ChallengeId, response.Response)));
    }

    /// <summary>Every holder has a phone on record.</summary>
    public ValueTask<bool> AvailableAsync(CredentialRecord credential, CancellationToken ct) => ValueTask.FromResult(true);

    private async Task DeliverAsync(OtpMessage message, CancellationToken ct)
    {
        try
        {
            await sender.SendAsync(message, ct);
            ServerMetrics.CountOtp(OtpOutcome.Sent);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            ServerMetrics.CountOtp(OtpOutcome.SendFailed);
            throw new DTrustException(ErrorKind.Unavailable, "the one-time code could not be sent; retry", e);
        }
    }

    private static string Text(FactorRequest request, string code) =>
        // No documents: a code asked before the hashes are named (CSC sendOTP), for the partner's next authorization.
        (request.Documents == 0
            ? $"DTrust: {request.Partner.Name} asks you to authorize signatures"
            : $"DTrust: {request.Partner.Name} asks you to sign {request.Documents} document(s)") +
        (string.IsNullOrWhiteSpace(request.Description) ? "" : $" ({request.Description})") +
        $". Code {code}, valid {request.Lifetime.TotalMinutes:0} minutes. Never share it.";
}
