using Google.Protobuf;

namespace DTrust.Rpc.Server.Internal;

/// <summary>A registered path with the code that reads its request, runs its handler and writes its response.</summary>
internal abstract class ServerMethod(string path)
{
    public string Path { get; } = path;

    public abstract Task RunAsync(GrpcCall call);
}

internal sealed class UnaryServerMethod<TRequest, TResponse>(
    RpcMethod<TRequest, TResponse> method, UnaryHandler<TRequest, TResponse> handler) : ServerMethod(method.Path)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    public override async Task RunAsync(GrpcCall call)
    {
        var request = await call.ReadSingleMessageAsync(method.RequestParser);
        var response = await call.RunHandlerAsync(handler(request, call.Context));
        await call.WriteMessageAsync(response, flush: false);
    }
}

internal sealed class ServerStreamingServerMethod<TRequest, TResponse>(
    RpcMethod<TRequest, TResponse> method, ServerStreamingHandler<TRequest, TResponse> handler)
    : ServerMethod(method.Path)
    where TRequest : class, IMessage<TRequest>
    where TResponse : class, IMessage<TResponse>
{
    public override async Task RunAsync(GrpcCall call)
    {
        var request = await call.ReadSingleMessageAsync(method.RequestParser);
        call.AllowHandlerWrites();
        await call.RunHandlerAsync(handler(request, new StreamWriter(call), call.Context));
    }

    private sealed class StreamWriter(GrpcCall call) : IServerStreamWriter<TResponse>
    {
        public Task WriteAsync(TResponse message, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(message);
            return call.WriteMessageAsync(message, flush: true, cancellationToken);
        }
    }
}
