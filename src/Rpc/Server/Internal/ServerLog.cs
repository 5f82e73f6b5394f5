using Microsoft.Extensions.Logging;

namespace DTrust.Rpc.Server.Internal;

internal static partial class ServerLog
{
    [LoggerMessage(2001, LogLevel.Error, "Unhandled exception in gRPC method {Method}; the client gets UNKNOWN")]
    public static partial void UnhandledException(ILogger logger, string method, Exception exception);

    [LoggerMessage(2002, LogLevel.Debug, "gRPC call {Method} ended with {Code}: {Detail}")]
    public static partial void CallFailed(ILogger logger, string method, StatusCode code, string detail);

    [LoggerMessage(2003, LogLevel.Debug, "gRPC call {Method} was cancelled by the client")]
    public static partial void ClientCancelled(ILogger logger, string method);

    [LoggerMessage(2004, LogLevel.Debug, "gRPC call {Method} exceeded its deadline")]
    public static partial void DeadlineExceeded(ILogger logger, string method);

    [LoggerMessage(2005, LogLevel.Debug, "Ignoring malformed grpc-timeout '{Value}'")]
    public static partial void InvalidTimeout(ILogger logger, string value);

    [LoggerMessage(2006, LogLevel.Debug, "Rejected gRPC request to {Path}: {Reason}")]
    public static partial void Rejected(ILogger logger, string path, string reason);

    [LoggerMessage(2007, LogLevel.Debug, "A gRPC handler for {Method} failed after its call had ended")]
    public static partial void LateHandlerFailure(ILogger logger, string method, Exception exception);

    [LoggerMessage(2008, LogLevel.Warning, "The exception mapper failed for {Method}; the client gets UNKNOWN")]
    public static partial void MapperFailed(ILogger logger, string method, Exception exception);
}
