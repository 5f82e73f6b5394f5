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

    /// <summary>
    /// Wrong one-time codes a credential may take in one UTC day, across all its challenges (counted durably in the
    /// store). The code that reaches the cap locks the credential (an operator's unlock clears the count); until then
    /// AuthorizeSignature and code checks are refused at the cap. With the default, an attacker guessing a six-digit
    /// code gets 10 guesses in a million a day instead of one in fifty.
    /// </summary>
    public int OtpFailuresPerDay { get; set; } = 10;

    /// <summary>
    /// Operator unlocks a credential may get after wrong PINs over its life (each needs the holder's confirmation or
    /// a second operator). Each is five more PIN guesses; past the cap the credential must be replaced.
    /// </summary>
    public int UnlocksPerCredential { get; set; } = 3;

    /// <summary>One-time codes sent per partner and hour, over all its holders (SMS cost, toll fraud).</summary>
    public int OtpSendsPerPartnerPerHour { get; set; } = 1000;

    /// <summary>One-time codes sent per phone number and hour, over all partners and credentials (SMS bombing).</summary>
    public int OtpSendsPerPhonePerHour { get; set; } = 10;

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

    /// <summary>
    /// Let QUALIFIED credentials sign in explicit mode (the partner relays PIN and code). Off by default: factors
    /// collected in the partner's application are not sole control (SCAL2) under ETSI TS 119 432.
    /// </summary>
    public bool ExplicitQualified { get; set; }

    /// <summary>How long a holder-approval authorization lives: the holder's link, and the SAD once approved.</summary>
    public int ApprovalSeconds { get; set; } = 600;

    /// <summary>Wrong SADs an approved authorization survives before it is void.</summary>
    public int SadAttempts { get; set; } = 3;

    /// <summary>QUALIFIED approvals refuse passkeys that may be synced to other devices (backup eligible).</summary>
    public bool RefuseSyncedPasskeysForQualified { get; set; } = true;

    /// <summary>How long an operator's passkey pairing link lives.</summary>
    public int PairingSeconds { get; set; } = 600;
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
