using DTrust.SigningServer.Errors;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace DTrust.SigningServer.Api.Grpc;

/// <summary>
/// Where failures of a gRPC call become statuses: <see cref="Failures.Classify"/> names the failure, the gRPC column
/// (<see cref="GrpcErrors"/>) its code. Messages are written for the caller (they never carry PINs, OTPs or key
/// material); anything unexpected is logged here and reaches the caller only as INTERNAL with a generic message.
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
        OperationCanceledException when context.CancellationToken.IsCancellationRequested =>
            context.Deadline <= DateTime.UtcNow
                ? new Status(StatusCode.DeadlineExceeded, "deadline exceeded")
                : new Status(StatusCode.Cancelled, "the call was cancelled"),
        _ => Failures.Classify(e) is { } known ? new Status(GrpcErrors.Code(known.Kind), known.Message) : null,
    };

    [LoggerMessage(EventId = 1101, Level = LogLevel.Error, Message = "Unexpected error in {Method}")]
    private static partial void Unexpected(ILogger logger, string method, Exception exception);
}
