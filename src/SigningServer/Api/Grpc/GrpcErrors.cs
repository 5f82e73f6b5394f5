using Grpc.Core;

namespace DTrust.SigningServer.Api.Grpc;

/// <summary>The gRPC column of the error table: <see cref="ErrorKind"/> → status code.</summary>
public static class GrpcErrors
{
    public static StatusCode Code(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        ErrorKind.NotFound => StatusCode.NotFound,
        ErrorKind.PermissionDenied => StatusCode.PermissionDenied,
        ErrorKind.Unauthenticated => StatusCode.Unauthenticated,
        ErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
        ErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
        ErrorKind.Unavailable => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };

    /// <summary>True for a gRPC request (any <c>application/grpc</c> content type, with or without a codec suffix).</summary>
    public static bool IsGrpc(HttpRequest request) =>
        request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// A refusal before the service runs (authentication, roles, rate): a trailers-only response, status and message
    /// in the headers, as a gRPC server sends when it fails a call before any message.
    /// </summary>
    public static Task WriteRefusalAsync(HttpContext http, ErrorKind kind, string message)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/grpc";
        http.Response.Headers["grpc-status"] = ((int)Code(kind)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        http.Response.Headers["grpc-message"] = Uri.EscapeDataString(message);
        return Task.CompletedTask;
    }
}
