using System.Net;
using System.Runtime.CompilerServices;
using DTrust.Rpc.Client.Internal;
using DTrust.Rpc.Internal;
using Google.Protobuf;

namespace DTrust.Rpc.Client;

/// <summary>
/// A connection pool to one gRPC server over HttpClient: <c>http://</c> speaks HTTP/2 with prior knowledge (h2c),
/// <c>https://</c> negotiates h2 by ALPN. Thread-safe; create one per server and reuse it.
/// </summary>
public sealed class GrpcChannel : IDisposable
{
    private readonly HttpMessageInvoker _invoker;
    private readonly bool _ownsHandler;

    private GrpcChannel(Uri address, GrpcChannelOptions options)
    {
        Address = address;
        Options = options;
        HttpMessageHandler handler;
        if (options.HttpHandler is { } custom)
        {
            handler = custom;
        }
        else
        {
            var sockets = new SocketsHttpHandler
            {
                // Beyond a server's stream limit (Kestrel: 100) calls would queue; open more connections instead.
                EnableMultipleHttp2Connections = true,
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(2),
                KeepAlivePingDelay = TimeSpan.FromSeconds(60),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
                AutomaticDecompression = DecompressionMethods.None,
                UseCookies = false,
                UseProxy = false,
            };
            if (options.ClientCertificate is { } cert)
            {
                sockets.SslOptions.ClientCertificates = [cert];
            }

            if (options.ServerCertificateValidation is { } validate)
            {
                sockets.SslOptions.RemoteCertificateValidationCallback = validate;
            }

            handler = sockets;
            _ownsHandler = true;
        }

        _invoker = new HttpMessageInvoker(handler, disposeHandler: _ownsHandler);
    }

    public Uri Address { get; }

    public GrpcChannelOptions Options { get; }

    public static GrpcChannel ForAddress(Uri address, GrpcChannelOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.Scheme != Uri.UriSchemeHttp && address.Scheme != Uri.UriSchemeHttps)
        {
            throw new ArgumentException("a gRPC address is http:// (h2c) or https://", nameof(address));
        }

        return new GrpcChannel(address, options ?? new GrpcChannelOptions());
    }

    public static GrpcChannel ForAddress(string address, GrpcChannelOptions? options = null) =>
        ForAddress(new Uri(address), options);

    /// <summary>Calls a unary method; a non-OK status is thrown as <see cref="RpcException"/>.</summary>
    public async Task<TResponse> UnaryAsync<TRequest, TResponse>(
        RpcMethod<TRequest, TResponse> method, TRequest request, CallOptions options = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(request);
        using var call = new ClientCall(this, _invoker, method.Path, options);
        try
        {
            await call.SendAsync(request);
            TResponse? response = null;
            await foreach (var message in call.ReadMessagesAsync(method.ResponseParser))
            {
                if (response is not null)
                {
                    throw new RpcException(StatusCode.Internal, "More than one response message for a unary call");
                }

                response = message;
            }

            return response ?? throw new RpcException(StatusCode.Internal, "The server sent OK without a response message");
        }
        catch (Exception ex) when (call.Translate(ex) is { } rpc)
        {
            throw rpc;
        }
    }

    /// <summary>
    /// Calls a server-streaming method. Messages arrive as they are sent; the status is checked at the end, and a
    /// consumer that stops early resets the stream.
    /// </summary>
    public async IAsyncEnumerable<TResponse> ServerStreamingAsync<TRequest, TResponse>(
        RpcMethod<TRequest, TResponse> method,
        TRequest request,
        CallOptions options = default,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse>
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(request);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken, cancellationToken);
        using var call = new ClientCall(this, _invoker, method.Path, options with { CancellationToken = linked.Token });
        await using var messages = Start(call, request, method.ResponseParser).GetAsyncEnumerator(linked.Token);
        while (true)
        {
            TResponse message;
            try
            {
                if (!await messages.MoveNextAsync())
                {
                    yield break;
                }

                message = messages.Current;
            }
            catch (Exception ex) when (call.Translate(ex) is { } rpc)
            {
                throw rpc;
            }

            yield return message;
        }

        static async IAsyncEnumerable<TResponse> Start(ClientCall call, TRequest request, MessageParser<TResponse> parser)
        {
            await call.SendAsync(request);
            await foreach (var m in call.ReadMessagesAsync(parser))
            {
                yield return m;
            }
        }
    }

    public void Dispose() => _invoker.Dispose();
}
