using System.Diagnostics;
using DTrust.SigningServer.Hosting;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace DTrust.SigningServer.Api.Grpc;

/// <summary>
/// Times every gRPC call into <c>dtrust_rpc_duration_seconds</c> by service, method and status code. Registered
/// outermost, so it sees the status the error interceptor mapped; anything else that escapes is what the framework
/// reports, UNKNOWN. Stateless, so one instance serves every call.
/// </summary>
internal sealed class RpcMetricsInterceptor : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation) =>
        TimedAsync(context, (request, context, continuation), static s => s.continuation(s.request, s.context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        TimedAsync(context, (request, responseStream, context, continuation), static async s =>
        {
            await s.continuation(s.request, s.responseStream, s.context);
            return true;
        });

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        TimedAsync(context, (requestStream, context, continuation), static s => s.continuation(s.requestStream, s.context));

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        TimedAsync(context, (requestStream, responseStream, context, continuation), static async s =>
        {
            await s.continuation(s.requestStream, s.responseStream, s.context);
            return true;
        });

    /// <summary>One timing for all four call kinds; the state travels as a struct, so no closure per call.</summary>
    private static async Task<T> TimedAsync<TState, T>(ServerCallContext context, TState state, Func<TState, Task<T>> call)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            var result = await call(state);
            ServerMetrics.ObserveRpc(MethodOf(context), context.Status.StatusCode, start);
            return result;
        }
        catch (Exception e)
        {
            ServerMetrics.ObserveRpc(MethodOf(context), CodeOf(e), start);
            throw;
        }
    }

    /// <summary>
    /// The method as the service declares it. Not <c>context.Method</c>: that is the request path, and routing
    /// ignores case, so every casing a client invents would become a series of its own.
    /// </summary>
    private static string MethodOf(ServerCallContext context) =>
        context.GetHttpContext().GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method.FullName ?? "unknown";

    private static StatusCode CodeOf(Exception e) => e is RpcException rpc ? rpc.StatusCode : StatusCode.Unknown;
}
