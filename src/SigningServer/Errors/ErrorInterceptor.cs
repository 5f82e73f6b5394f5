using DTrust.KeyVault;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace DTrust.SigningServer.Errors;

/// <summary>
/// The one place where domain errors become gRPC statuses. Messages of <see cref="DTrustException"/> and of the
/// vault are written for the caller (they never carry PINs, OTPs or key material); anything unexpected is logged
/// here and reaches the caller only as INTERNAL with a generic message.
/// </summary>
internal sealed partial class ErrorInterceptor(ILogger<ErrorInterceptor> log) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw ToRpcException(e, context);
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw ToRpcException(e, context);
        }
    }

    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(requestStream, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw ToRpcException(e, context);
        }
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(requestStream, responseStream, context);
        }
        catch (Exception e) when (e is not RpcException)
        {
            throw ToRpcException(e, context);
        }
    }

    internal RpcException ToRpcException(Exception e, ServerCallContext context)
    {
        var status = Map(e, context);
        if (status is { } known)
        {
            return new RpcException(known);
        }

        Unexpected(log, context.Method, e);
        return new RpcException(new Status(StatusCode.Internal, "internal error; the server logged the details"));
    }

    internal static Status? Map(Exception e, ServerCallContext context) => e switch
    {
        DTrustException d => new Status(ToCode(d.Kind), d.Message),
        KeyVaultException { IsTransient: true } => new Status(StatusCode.Unavailable, "the HSM is unavailable; retry later"),

        // Start-up proved every token object present, so one missing later means the HSM lost it: not the caller's fault.
        KeyVaultException { Kind: KeyVaultErrorKind.KeyNotFound } => new Status(StatusCode.Unavailable, "the HSM is unavailable; retry later"),
        KeyVaultException { Kind: KeyVaultErrorKind.InvalidInput } k => new Status(StatusCode.InvalidArgument, k.Message),

        // Challenges live only in Redis: without it nothing is authorized or signed, and the caller may retry.
        StackExchange.Redis.RedisException or TimeoutException =>
            new Status(StatusCode.Unavailable, "the challenge store is unavailable; retry later"),
        OperationCanceledException when context.CancellationToken.IsCancellationRequested =>
            context.Deadline <= DateTime.UtcNow
                ? new Status(StatusCode.DeadlineExceeded, "deadline exceeded")
                : new Status(StatusCode.Cancelled, "the call was cancelled"),
        _ => null,
    };

    internal static StatusCode ToCode(ErrorKind kind) => kind switch
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

    [LoggerMessage(EventId = 1101, Level = LogLevel.Error, Message = "Unexpected error in {Method}")]
    private static partial void Unexpected(ILogger logger, string method, Exception exception);
}
