using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using DTrust.Rpc.Internal;
using Google.Protobuf;

namespace DTrust.Rpc.Client.Internal;

/// <summary>One call on the client: request, response headers, messages, then the status.</summary>
internal sealed class ClientCall : IDisposable
{
    private static readonly MediaTypeHeaderValue GrpcContentType = new(GrpcProtocol.ContentType);

    private readonly GrpcChannel _channel;
    private readonly HttpMessageInvoker _invoker;
    private readonly string _path;
    private readonly CallOptions _options;
    private readonly CancellationTokenSource _cts;
    private HttpResponseMessage? _response;

    public ClientCall(GrpcChannel channel, HttpMessageInvoker invoker, string path, CallOptions options)
    {
        _channel = channel;
        _invoker = invoker;
        _path = path;
        _options = options;
        _cts = CancellationTokenSource.CreateLinkedTokenSource(options.CancellationToken);
        if (options.Deadline is { } deadline)
        {
            var remaining = deadline.ToUniversalTime() - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                _cts.Cancel();
            }
            else if (remaining < TimeSpan.FromDays(30))
            {
                _cts.CancelAfter(remaining);
            }
        }
    }

    private CancellationToken Token => _cts.Token;

    /// <summary>
    /// The call's token fired while the caller's did not: only the deadline timer does that. Asking the clock
    /// instead misjudges a timer that fires a fraction of a millisecond early (CancelAfter rounds down).
    /// </summary>
    private bool DeadlinePassed => _cts.IsCancellationRequested && !_options.CancellationToken.IsCancellationRequested;

    public async Task SendAsync(IMessage request)
    {
        if (DeadlinePassed)
        {
            throw new RpcException(StatusCode.DeadlineExceeded, "Deadline Exceeded");
        }

        var frame = GrpcFraming.ToFrame(request);
        if (_channel.Options.MaxSendMessageSize is { } max && frame.Length - GrpcFraming.HeaderSize > max)
        {
            throw new RpcException(
                StatusCode.ResourceExhausted,
                string.Create(CultureInfo.InvariantCulture, $"Sending message larger than max ({frame.Length - GrpcFraming.HeaderSize} vs. {max})"));
        }

        var message = new HttpRequestMessage(HttpMethod.Post, new Uri(_channel.Address, _path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ByteArrayContent(frame),
        };
        message.Content.Headers.ContentType = GrpcContentType;
        var headers = message.Headers;
        headers.TryAddWithoutValidation("te", "trailers");
        headers.TryAddWithoutValidation("user-agent", _channel.Options.UserAgent);
        headers.TryAddWithoutValidation(GrpcProtocol.AcceptEncodingHeader, "identity");
        if (_options.Deadline is { } deadline)
        {
            headers.TryAddWithoutValidation(GrpcProtocol.TimeoutHeader, GrpcTimeout.Format(deadline.ToUniversalTime() - DateTime.UtcNow));
        }

        foreach (var entry in _options.Headers ?? [])
        {
            headers.TryAddWithoutValidation(entry.Key, entry.WireValue);
        }

        _response = await _invoker.SendAsync(message, Token);
        if (_response.StatusCode != HttpStatusCode.OK)
        {
            throw new RpcException(
                StatusFromHeaders(_response.Headers)?.Code ?? FromHttpStatus(_response.StatusCode),
                StatusFromHeaders(_response.Headers)?.Detail ?? $"Bad gRPC response. HTTP status code: {(int)_response.StatusCode}",
                ToMetadata(_response.Headers));
        }

        // Trailers-Only: the whole answer is in the headers and there is no body to read.
        if (StatusFromHeaders(_response.Headers) is { } status)
        {
            ThrowIfNotOk(status, ToMetadata(_response.Headers));
        }
        else if (!GrpcProtocol.IsGrpcContentType(_response.Content.Headers.ContentType?.ToString()))
        {
            throw new RpcException(StatusCode.Internal, $"Bad gRPC response. Content-Type '{_response.Content.Headers.ContentType}'");
        }
    }

    public async IAsyncEnumerable<T> ReadMessagesAsync<T>(MessageParser<T> parser)
        where T : IMessage<T>
    {
        var response = _response ?? throw new InvalidOperationException("send first");
        if (StatusFromHeaders(response.Headers) is not null)
        {
            yield break;
        }

        var stream = await response.Content.ReadAsStreamAsync(Token);
        var reader = PipeReader.Create(stream);
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(Token);
                var buffer = result.Buffer;
                var messages = new List<T>();
                try
                {
                    while (true)
                    {
                        var frame = GrpcFraming.TryRead(ref buffer, _channel.Options.MaxReceiveMessageSize, out var payload, out var length);
                        if (frame == FrameStatus.NeedMoreData)
                        {
                            break;
                        }

                        if (frame != FrameStatus.Message)
                        {
                            throw frame == FrameStatus.TooLarge
                                ? new RpcException(StatusCode.ResourceExhausted, string.Create(CultureInfo.InvariantCulture, $"Received message larger than max ({length} vs. {_channel.Options.MaxReceiveMessageSize})"))
                                : new RpcException(StatusCode.Internal, "Unsupported response frame (compressed or invalid flag)");
                        }

                        messages.Add(parser.ParseFrom(payload));
                    }

                    if (result.IsCompleted && !buffer.IsEmpty)
                    {
                        throw new RpcException(StatusCode.Internal, "The response ended inside a message frame");
                    }
                }
                finally
                {
                    reader.AdvanceTo(buffer.Start, buffer.End);
                }

                foreach (var m in messages)
                {
                    yield return m;
                }

                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        finally
        {
            await reader.CompleteAsync();
        }

        // Trailers are only visible once the body has been read to its end.
        var trailers = response.TrailingHeaders;
        var status = StatusFromHeaders(trailers)
            ?? throw new RpcException(StatusCode.Internal, "The response ended without grpc-status");
        ThrowIfNotOk(status, ToMetadata(trailers));
    }

    /// <summary>Turns what went wrong into the exception the caller sees, or null to let it through as is.</summary>
    public RpcException? Translate(Exception exception)
    {
        if (exception is RpcException)
        {
            return null;
        }

        if (DeadlinePassed && exception is OperationCanceledException or HttpRequestException or IOException and not InvalidProtocolBufferException)
        {
            return new RpcException(StatusCode.DeadlineExceeded, "Deadline Exceeded", new Metadata(), exception);
        }

        return exception switch
        {
            InvalidProtocolBufferException =>
                new RpcException(StatusCode.Internal, "Failed to deserialize the response message", new Metadata(), exception),
            OperationCanceledException => new RpcException(StatusCode.Cancelled, "Call cancelled", new Metadata(), exception),
            HttpRequestException or IOException =>
                new RpcException(StatusCode.Unavailable, "Error talking to the server: " + exception.Message, new Metadata(), exception),
            _ => null,
        };
    }

    public void Dispose()
    {
        // Disposing a response whose body was not read to the end resets the stream, which cancels the server side.
        _response?.Dispose();
        _cts.Dispose();
    }

    private static void ThrowIfNotOk(RpcStatus status, Metadata trailers)
    {
        if (status.Code != StatusCode.OK)
        {
            throw new RpcException(status.Code, status.Detail, trailers);
        }
    }

    private static RpcStatus? StatusFromHeaders(HttpHeaders headers)
    {
        if (!headers.TryGetValues(GrpcProtocol.StatusHeader, out var values))
        {
            return null;
        }

        var raw = values.FirstOrDefault();
        if (!int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var code))
        {
            return new RpcStatus(StatusCode.Unknown, $"Unparsable grpc-status '{raw}'");
        }

        var message = headers.TryGetValues(GrpcProtocol.MessageHeader, out var m) ? PercentEncoding.Decode(m.First()) : "";
        return new RpcStatus((StatusCode)code, message);
    }

    private static Metadata ToMetadata(HttpHeaders headers)
    {
        var metadata = new Metadata();
        foreach (var (name, values) in headers.NonValidated)
        {
            if (GrpcProtocol.IsReservedHeader(name))
            {
                continue;
            }

            foreach (var value in values)
            {
                metadata.AddFromWire(name, value);
            }
        }

        return metadata;
    }

    /// <summary>The protocol's mapping for responses that are not HTTP 200 and carry no grpc-status.</summary>
    private static StatusCode FromHttpStatus(HttpStatusCode status) => status switch
    {
        HttpStatusCode.BadRequest => StatusCode.Internal,
        HttpStatusCode.Unauthorized => StatusCode.Unauthenticated,
        HttpStatusCode.Forbidden => StatusCode.PermissionDenied,
        HttpStatusCode.NotFound => StatusCode.Unimplemented,
        HttpStatusCode.TooManyRequests or HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable
            or HttpStatusCode.GatewayTimeout => StatusCode.Unavailable,
        _ => StatusCode.Unknown,
    };
}
