namespace DTrust.SigningServer.Signing;

/// <summary>Configuration section <c>DTrust:Signing</c>: challenges, one-time codes and their delivery.</summary>
public sealed class SigningOptions
{
    public const string Section = "DTrust:Signing";

    /// <summary>Hashes one challenge (and one SignHash) may carry.</summary>
    public int MaxHashesPerChallenge { get; set; } = 100;

    /// <summary>How long a challenge (and its one-time code) lives.</summary>
    public int ChallengeSeconds { get; set; } = 300;

    /// <summary>Wrong codes a challenge survives before it is void.</summary>
    public int OtpAttempts { get; set; } = 3;

    /// <summary>New challenges per credential and minute: each one costs an SMS. A load test raises this here.</summary>
    public int ChallengesPerMinute { get; set; } = 5;

    /// <summary>
    /// File with the secret that one-time codes are stored under as HMACs (at least 32 bytes). Every node of a
    /// cluster needs the same file. Default: <c>{StateDirectory}/keys/otp-hmac.key</c>, made at first start in
    /// development only.
    /// </summary>
    public string? OtpSecretFile { get; set; }

    /// <summary>
    /// <c>outbox</c> (development only: <c>{StateDirectory}/otp-outbox.jsonl</c>) or <c>webhook</c>; unset means
    /// outbox in development and webhook otherwise.
    /// </summary>
    public string? OtpSender { get; set; }

    public WebhookOptions Webhook { get; set; } = new();
}

/// <summary>An SMS gateway that takes <c>POST {"to": "+49…", "text": "…"}</c>.</summary>
public sealed class WebhookOptions
{
    public string? Url { get; set; }

    /// <summary>Sent as the Authorization header (e.g. "Bearer …"); read from <see cref="AuthorizationFile"/> if set.</summary>
    public string? AuthorizationFile { get; set; }

    /// <summary>Seconds per attempt; three attempts (with backoff) at most.</summary>
    public int TimeoutSeconds { get; set; } = 10;

    /// <summary>PEM file of the CA certificates to trust for the gateway instead of the system roots (a private PKI).</summary>
    public string? CaFile { get; set; }
}
