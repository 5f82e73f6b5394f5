using System.Globalization;
using DTrust.Rpc.Internal;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace DTrust.Rpc.Server.Internal;

/// <summary>
/// The state of one server call. Once a handler holds a stream writer, every response write goes through one gate so
/// that a handler still running after its deadline cannot write into a response that was already completed.
/// </summary>
// The gate's wait handle is never requested, so an undisposed SemaphoreSlim holds no OS resource.
#pragma warning disable CA1001
internal sealed class GrpcCall(
    HttpContext http,
    ServerCallContext context,
    GrpcTransportOptions options,
    ILogger logger,
    CancellationTokenSource? deadlineTimer)
#pragma warning restore CA1001
{
    // Null while only the transport writes, one step after another (unary): the gate is made per call only when a
    // handler can write concurrently with the end of the call.
    private SemaphoreSlim? _gate;
    private bool _messageWritten;
    private bool _finished;

    public ServerCallContext Context { get; } = context;

    /// <summary>The handler task, if it was started and has not been awaited to completion.</summary>
    public Task? PendingHandler { get; private set; }

    /// <summary>The deadline timer fired (as opposed to the client resetting the stream).</summary>
    public bool DeadlineExpired =>
        deadlineTimer is { IsCancellationRequested: true } && !http.RequestAborted.IsCancellationRequested;

    // A ValueTask: the request has usually arrived whole by the time the call starts, and then no task is made.
    public async ValueTask<T> ReadSingleMessageAsync<T>(MessageParser<T> parser)
        where T : IMessage<T>
    {
        var reader = http.Request.BodyReader;
        var token = Context.CancellationToken;
        T? message = default;
        var haveMessage = false;
        while (true)
        {
            var result = await reader.ReadAsync(token);
            var buffer = result.Buffer;
            try
            {
                while (true)
                {
                    var status = GrpcFraming.TryRead(ref buffer, options.MaxReceiveMessageSize, out var payload, out var length);
                    if (status == FrameStatus.NeedMoreData)
                    {
                        break;
                    }

                    if (status != FrameStatus.Message)
                    {
                        throw FramingError(status, length, options.MaxReceiveMessageSize);
                    }

                    if (haveMessage)
                    {
                        throw new RpcException(StatusCode.Internal, "More than one request message for a unary request");
                    }

                    message = Parse(parser, payload);
                    haveMessage = true;
                }

                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty)
                    {
                        throw new RpcException(StatusCode.Internal, "The request ended inside a message frame");
                    }

                    return haveMessage ? message! : throw new RpcException(StatusCode.Internal, "No request message");
                }

                if (result.IsCanceled)
                {
                    throw new OperationCanceledException(token);
                }
            }
            finally
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }

    /// <summary>
    /// Must be called before a handler gets a stream writer: from then on its writes may race the end of the call.
    /// </summary>
    public void AllowHandlerWrites() => _gate ??= new SemaphoreSlim(1, 1);

    /// <summary>
    /// Awaits the handler, but no longer than the call lives: on deadline or reset the call ends at once and the
    /// handler, if it ignores its token, finishes alone.
    /// </summary>
    public Task<T> RunHandlerAsync<T>(Task<T> handler)
    {
        // A handler that already finished (most unary ones) needs neither a wait nor another task for its result.
        return handler.IsCompleted ? handler : AwaitHandlerAsync(handler);
    }

    public async Task RunHandlerAsync(Task handler)
    {
        PendingHandler = handler;
        await handler.WaitAsync(Context.CancellationToken);
        PendingHandler = null;
    }

    private async Task<T> AwaitHandlerAsync<T>(Task<T> handler)
    {
        PendingHandler = handler;
        var result = await handler.WaitAsync(Context.CancellationToken);
        PendingHandler = null;
        return result;
    }

    public async Task WriteMessageAsync(IMessage message, bool flush, CancellationToken cancellationToken = default)
    {
        var size = message.CalculateSize();
        if (size > options.MaxSendMessageSize)
        {
            throw new RpcException(
                StatusCode.ResourceExhausted,
                string.Create(CultureInfo.InvariantCulture, $"Sending message larger than max ({size} vs. {options.MaxSendMessageSize})"));
        }

        var gate = _gate;
        if (gate is not null)
        {
            await gate.WaitAsync(cancellationToken);
        }

        try
        {
            if (_finished)
            {
                throw new InvalidOperationException("The call has already ended");
            }

            var response = http.Response;
            if (!_messageWritten)
            {
                response.ContentType = GrpcProtocol.ContentType;
                AddHeaders(response.Headers, Context.ResponseHeadersIfAny);
                _messageWritten = true;
            }

            GrpcFraming.Write(response.BodyWriter, message, size);
            if (flush)
            {
                if (!cancellationToken.CanBeCanceled || cancellationToken == Context.CancellationToken)
                {
                    await response.BodyWriter.FlushAsync(Context.CancellationToken);
                }
                else
                {
                    using var linked = CancellationTokenSource.CreateLinkedTokenSource(Context.CancellationToken, cancellationToken);
                    await response.BodyWriter.FlushAsync(linked.Token);
                }
            }
        }
        finally
        {
            gate?.Release();
        }
    }

    /// <summary>Ends the call with a status: in the headers (Trailers-Only) if no message went out, else in trailers.</summary>
    public async Task FinishAsync(RpcStatus status, Metadata? extraTrailers = null)
    {
        var gate = _gate;
        if (gate is not null)
        {
            await gate.WaitAsync();
        }

        try
        {
            if (_finished)
            {
                return;
            }

            _finished = true;
            var response = http.Response;
            if (!_messageWritten && !response.HasStarted)
            {
                response.StatusCode = StatusCodes.Status200OK;
                response.ContentType = GrpcProtocol.ContentType;
                AddHeaders(response.Headers, Context.ResponseHeadersIfAny);
                GrpcProtocol.SetStatus(response.Headers, status);
                AddHeaders(response.Headers, Context.ResponseTrailersIfAny);
                AddHeaders(response.Headers, extraTrailers);
                return;
            }

            if (!response.SupportsTrailers())
            {
                // Only HTTP/1.x lacks trailers, and such requests were turned away before reaching a handler.
                http.Abort();
                return;
            }

            response.AppendTrailer(GrpcProtocol.StatusHeader, ((int)status.Code).ToString(CultureInfo.InvariantCulture));
            if (status.Detail.Length > 0)
            {
                response.AppendTrailer(GrpcProtocol.MessageHeader, PercentEncoding.Encode(status.Detail));
            }

            AppendTrailers(response, Context.ResponseTrailersIfAny);
            AppendTrailers(response, extraTrailers);
        }
        finally
        {
            gate?.Release();
        }
    }

    public Task FailAsync(Exception exception)
    {
        if (http.RequestAborted.IsCancellationRequested)
        {
            // The client reset the stream: there is nobody to tell.
            ServerLog.ClientCancelled(logger, Context.Method);
            return Task.CompletedTask;
        }

        RpcStatus status;
        Metadata? trailers = null;
        if (exception is RpcException rpc)
        {
            status = rpc.Status;
            trailers = rpc.Trailers;
        }
        else if (DeadlineExpired && exception is OperationCanceledException)
        {
            ServerLog.DeadlineExceeded(logger, Context.Method);
            status = new RpcStatus(StatusCode.DeadlineExceeded, "Deadline Exceeded");
        }
        else
        {
            status = Map(exception);
        }

        ServerLog.CallFailed(logger, Context.Method, status.Code, status.Detail);
        return FinishAsync(status, trailers);
    }

    private static T Parse<T>(MessageParser<T> parser, System.Buffers.ReadOnlySequence<byte> payload)
        where T : IMessage<T>
    {
        try
        {
            return parser.ParseFrom(payload);
        }
        catch (InvalidProtocolBufferException)
        {
            throw new RpcException(StatusCode.Internal, "Failed to deserialize the request message");
        }
    }

    private static RpcException FramingError(FrameStatus status, long length, int max) => status switch
    {
        FrameStatus.TooLarge => new RpcException(
            StatusCode.ResourceExhausted,
            string.Create(CultureInfo.InvariantCulture, $"Received message larger than max ({length} vs. {max})")),
        FrameStatus.Compressed => new RpcException(
            StatusCode.Unimplemented, "Compressed messages are not supported; use identity encoding"),
        _ => new RpcException(StatusCode.Internal, "Invalid message frame flag"),
    };

    private static void AddHeaders(IHeaderDictionary headers, Metadata? metadata)
    {
        if (metadata is null)
        {
            return;
        }

        foreach (var entry in metadata.Entries)
        {
            headers.Append(entry.Key, entry.WireValue);
        }
    }

    private static void AppendTrailers(HttpResponse response, Metadata? metadata)
    {
        if (metadata is null)
        {
            return;
        }

        foreach (var entry in metadata.Entries)
        {
            response.AppendTrailer(entry.Key, entry.WireValue);
        }
    }

    private RpcStatus Map(Exception exception)
    {
        if (options.ExceptionMapper is { } mapper)
        {
            try
            {
                if (mapper(exception) is { } mapped)
                {
                    return mapped;
                }
            }
#pragma warning disable CA1031 // A throwing mapper must not turn into an unanswered call; it is logged.
            catch (Exception mapperFailure)
#pragma warning restore CA1031
            {
                ServerLog.MapperFailed(logger, Context.Method, mapperFailure);
            }
        }

        ServerLog.UnhandledException(logger, Context.Method, exception);
        return new RpcStatus(StatusCode.Unknown, "Exception was thrown by handler.");
    }
}
