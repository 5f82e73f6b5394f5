using DTrust.KeyVault;

namespace DTrust.SigningServer.Errors;

/// <summary>
/// The one table from what went wrong to the one vocabulary (<see cref="ErrorKind"/> and a message written for the
/// caller). The store and the core raise <see cref="DTrustException"/> themselves; the vault keeps its own exception
/// (it references nothing of ours) and Redis throws its client's, so both are translated here, once. Each front end
/// then adds one column: <c>Api.Grpc.GrpcErrors</c> the status code, <c>Api.Http.HttpErrors</c> the HTTP status.
/// </summary>
public static class Failures
{
    private const string HsmUnavailable = "the HSM is unavailable; retry later";

    /// <summary>The failure as the caller may see it; null for anything unexpected (a bug: log it, answer internal).</summary>
    public static DTrustException? Classify(Exception e) => e switch
    {
        DTrustException d => d,
        KeyVaultException { IsTransient: true } => new DTrustException(ErrorKind.Unavailable, HsmUnavailable, e),

        // Start-up proved every token object present, so one missing later means the HSM lost it: not the caller's fault.
        KeyVaultException { Kind: KeyVaultErrorKind.KeyNotFound } => new DTrustException(ErrorKind.Unavailable, HsmUnavailable, e),
        KeyVaultException { Kind: KeyVaultErrorKind.InvalidInput } k => new DTrustException(ErrorKind.InvalidArgument, k.Message, e),

        // Challenges live only in Redis: without it nothing is authorized or signed, and the caller may retry.
        StackExchange.Redis.RedisException or TimeoutException =>
            new DTrustException(ErrorKind.Unavailable, "the challenge store is unavailable; retry later", e),
        _ => null,
    };
}
