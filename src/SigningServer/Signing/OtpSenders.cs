using System.Net.Http.Json;
using System.Text.Json;

namespace DTrust.SigningServer.Signing;

/// <summary>What the holder receives: the code and what it approves (partner, description, number of documents).</summary>
public sealed record OtpMessage(string ChallengeId, string CredentialId, string Phone, string Code, string Text);

/// <summary>Delivers one-time codes to the holder's phone.</summary>
public interface IOtpSender
{
    Task SendAsync(OtpMessage message, CancellationToken ct);
}

/// <summary>
/// Development only: appends one JSON object a line to <c>{state}/otp-outbox.jsonl</c>, which the CLI
/// (<c>--otp-from-outbox</c>) and the tests read. The server refuses to start with it outside development.
/// </summary>
public sealed class OutboxOtpSender(string path) : IOtpSender, IDisposable
{
    private readonly SemaphoreSlim _lock = new(1, 1);

    public async Task SendAsync(OtpMessage message, CancellationToken ct)
    {
        var line = JsonSerializer.Serialize(new
        {
            challenge_id = message.ChallengeId,
            credential_id = message.CredentialId,
            phone = message.Phone,
            otp = message.Code,
            text = message.Text,
        }) + "\n";
        await _lock.WaitAsync(ct);
        try
        {
            await File.AppendAllTextAsync(path, line, CancellationToken.None);
        }
        finally
        {
            _lock.Release();
        }
    }

    public void Dispose() => _lock.Dispose();
}

/// <summary>
/// Posts <c>{"to", "text"}</c> to an SMS gateway. Timeouts and retries with backoff come from the resilience
/// handler the host puts on this client (Microsoft.Extensions.Http.Resilience).
/// </summary>
public sealed class WebhookOtpSender(HttpClient http, SigningOptions options) : IOtpSender
{
    private readonly string? _authorization = string.IsNullOrEmpty(options.Webhook.AuthorizationFile)
        ? null
        : File.ReadAllText(options.Webhook.AuthorizationFile).Trim();

    public async Task SendAsync(OtpMessage message, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, options.Webhook.Url)
        {
            Content = JsonContent.Create(new { to = message.Phone, text = message.Text }),
        };
        if (_authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", _authorization);
        }

        using var response = await http.SendAsync(request, ct);
        response.EnsureSuccessStatusCode();
    }
}
