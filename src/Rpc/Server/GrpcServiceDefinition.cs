using DTrust.Rpc.Server.Internal;
using Google.Protobuf;

namespace DTrust.Rpc.Server;

/// <summary>Handles one unary call: the request in, the response out, or an <see cref="RpcException"/>.</summary>
public delegate Task<TResponse> UnaryHandler<in TRequest, TResponse>(TRequest request, ServerCallContext context);

/// <summary>Handles one server-streaming call; the call ends (OK) when the returned task completes.</summary>
public delegate Task ServerStreamingHandler<in TRequest, TResponse>(
    TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context);

/// <summary>A set of methods to map onto endpoint routing with <c>MapGrpcService</c>.</summary>
public sealed class GrpcServiceDefinition
{
    private GrpcServiceDefinition(IReadOnlyList<ServerMethod> methods) => Methods = methods;

    internal IReadOnlyList<ServerMethod> Methods { get; }

    /// <summary>The paths this definition serves, for diagnostics and tests.</summary>
    public IEnumerable<string> Paths => Methods.Select(m => m.Path);

    public static Builder CreateBuilder() => new();

    /// <summary>Collects methods; each path may be registered once.</summary>
    public sealed class Builder
    {
        private readonly List<ServerMethod> _methods = [];

        public Builder AddUnary<TRequest, TResponse>(
            RpcMethod<TRequest, TResponse> method, UnaryHandler<TRequest, TResponse> handler)
            where TRequest : class, IMessage<TRequest>
            where TResponse : class, IMessage<TResponse>
        {
            ArgumentNullException.ThrowIfNull(method);
            ArgumentNullException.ThrowIfNull(handler);
            if (method.Type != MethodType.Unary)
            {
                throw new ArgumentException($"{method.Path} is not unary", nameof(method));
            }

            return Add(new UnaryServerMethod<TRequest, TResponse>(method, handler));
        }

        public Builder AddServerStreaming<TRequest, TResponse>(
            RpcMethod<TRequest, TResponse> method, ServerStreamingHandler<TRequest, TResponse> handler)
            where TRequest : class, IMessage<TRequest>
            where TResponse : class, IMessage<TResponse>
        {
            ArgumentNullException.ThrowIfNull(method);
            ArgumentNullException.ThrowIfNull(handler);
            if (method.Type != MethodType.ServerStreaming)
            {
                throw new ArgumentException($"{method.Path} is not server streaming", nameof(method));
            }

            return Add(new ServerStreamingServerMethod<TRequest, TResponse>(method, handler));
        }

        public GrpcServiceDefinition Build() => new(_methods.ToArray());

        private Builder Add(ServerMethod method)
        {
            if (_methods.Any(m => m.Path == method.Path))
            {
                throw new InvalidOperationException($"{method.Path} is registered twice");
            }

            _methods.Add(method);
            return this;
        }
    }
}
