using DTrust.Store;

namespace DTrust.SigningServer.Factors;

/// <summary>
/// A second factor behind the PIN (the SMS code today, a passkey next). The flow asks it to issue for a new challenge
/// and to turn the holder's response into a proof; the challenge store keeps the issued value sealed with the
/// challenge and, in the one consume script, compares it with the proof, counts wrong ones and consumes. Neither the
/// flow nor the script knows what the factor is.
/// </summary>
public interface ISecondFactor
{
    /// <summary>The name the policy asks for and the challenge records (sealed), e.g. <c>sms</c>.</summary>
    string Name { get; }

    /// <summary>What the holder's response is called in answers and the audit, e.g. "one-time code".</summary>
    string ResponseName { get; }

    /// <summary>
    /// Before the challenge is stored: applies the factor's own limits (refusing with
    /// <see cref="FactorRefusedException"/>), makes what the holder will answer with, and returns the value the
    /// challenge keeps (never the secret itself) with the delivery to run once the challenge is stored.
    /// </summary>
    Task<IssuedFactor> IssueAsync(FactorRequest request, CancellationToken ct);

    /// <summary>
    /// The proof of the holder's response to the challenge. It consumes the challenge only if it equals the value
    /// issued (compared in the consume script, and again on the node in constant time: the script compares MACs, which
    /// leak nothing by their timing); anything else costs an attempt.
    /// </summary>
    ValueTask<FactorProof> ProofAsync(FactorResponse response, CancellationToken ct);

    /// <summary>Whether the factor can be asked of the holder at all (a passkey needs a paired device).</summary>
    ValueTask<bool> AvailableAsync(CredentialRecord credential, CancellationToken ct);
}

/// <summary>
/// The proof of a response, and what the audit keeps as evidence of it (for a passkey the assertion and the device's
/// public key, so that the approval can be verified again offline; null for a code, which proves nothing later).
/// </summary>
public sealed record FactorProof(string Proof, object? Evidence = null);

/// <summary>A new challenge, as the factor needs to know it to tell the holder what they approve.</summary>
public sealed record FactorRequest(
    CallerRecord Partner,
    CredentialRecord Credential,
    UserRecord Holder,
    string ChallengeId,
    string HashListDigest,
    int Documents,
    string? Description,
    TimeSpan Lifetime)
{
    /// <summary>Holder approval: the canonical transaction the holder is shown (a passkey signs over its digest).</summary>
    public byte[]? Transaction { get; init; }
}

/// <summary>The holder's response to a challenge, as the partner relayed it.</summary>
public sealed record FactorResponse(CallerRecord Partner, CredentialRecord Credential, string ChallengeId, string HashListDigest, string Response);

/// <summary>The holder's page needs what the factor issued to ask the device (a passkey's request options).</summary>
public interface IPageFactorOptions
{
    /// <summary>JSON for the page's script, or null when the factor needs nothing on the page.</summary>
    string? PageOptions { get; }
}

/// <summary>
/// What a factor issued: the <see cref="Value"/> the challenge keeps, the text for the audit (what the holder was
/// shown, secrets masked), and the delivery. The secret (the code) stays inside the delivery, not in a property.
/// </summary>
public sealed class IssuedFactor(string value, string? auditMessage, Func<CancellationToken, Task> deliver, string? pageOptions = null)
    : IPageFactorOptions
{
    public string Value { get; } = value;

    public string? PageOptions { get; } = pageOptions;

    public string? AuditMessage { get; } = auditMessage;

    /// <summary>Sends to the holder; a failure is a <see cref="DTrustException"/> (UNAVAILABLE), and the flow drops the challenge.</summary>
    public Task DeliverAsync(CancellationToken ct) => deliver(ct);
}

/// <summary>A factor refused to issue (one of its own limits): the flow audits <see cref="Reason"/> and answers with <see cref="Kind"/>.</summary>
public sealed class FactorRefusedException : Exception
{
    public FactorRefusedException(string reason, ErrorKind kind, string message)
        : base(message)
    {
        Reason = reason;
        Kind = kind;
    }

    public FactorRefusedException()
        : this("refused", ErrorKind.FailedPrecondition, "the second factor refused")
    {
    }

    public FactorRefusedException(string message)
        : this(message, ErrorKind.FailedPrecondition, message)
    {
    }

    public FactorRefusedException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = message;
        Kind = ErrorKind.FailedPrecondition;
    }

    /// <summary>Why, for the audit entry of the refusal.</summary>
    public string Reason { get; }

    /// <summary>The error the caller gets (with <see cref="Exception.Message"/>).</summary>
    public ErrorKind Kind { get; }
}
