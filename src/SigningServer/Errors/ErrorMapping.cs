using DTrust.KeyVault;
using DTrust.Rpc;

namespace DTrust.SigningServer.Errors;

/// <summary>The one place where domain errors become gRPC statuses (wired as the transport's exception mapper).</summary>
internal static class ErrorMapping
{
    public static RpcStatus? ToStatus(Exception ex) => ex switch
    {
        DTrustException d => new RpcStatus(d.Kind switch
        {
            ErrorKind.InvalidArgument => StatusCode.InvalidArgument,
            ErrorKind.NotFound => StatusCode.NotFound,
            ErrorKind.PermissionDenied => StatusCode.PermissionDenied,
            ErrorKind.Unauthenticated => StatusCode.Unauthenticated,
            ErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
            ErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
            ErrorKind.Unavailable => StatusCode.Unavailable,
            _ => StatusCode.Internal,
        }, d.Message),

        // Vault messages never carry PINs or key material, so they may reach the caller.
        KeyVaultException { IsTransient: true } => new RpcStatus(StatusCode.Unavailable, "The HSM is unavailable; retry later"),
        KeyVaultException k when k.Kind == KeyVaultErrorKind.InvalidInput => new RpcStatus(StatusCode.InvalidArgument, k.Message),
        _ => null,
    };
}
