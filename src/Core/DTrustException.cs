namespace DTrust.Core;

/// <summary>The one error vocabulary of the host; translated to a gRPC status at exactly one place.</summary>
public enum ErrorKind
{
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    FailedPrecondition,
    ResourceExhausted,
    Unavailable,
    Internal,
}

public sealed class DTrustException(ErrorKind kind, string message, Exception? inner = null)
    : Exception(message, inner)
{
    public ErrorKind Kind { get; } = kind;

    /// <summary>True when a retry may succeed (HSM, Redis or store briefly unreachable).</summary>
    public bool IsTransient => Kind == ErrorKind.Unavailable;
}
