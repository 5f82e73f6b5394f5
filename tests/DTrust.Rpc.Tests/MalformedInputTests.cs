using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using DTrust.Rpc.Tests.Protos;
using Google.Protobuf;
using Xunit;

namespace DTrust.Rpc.Tests;

/// <summary>
/// Raw HTTP/2 requests that no well-behaved client sends. Each must get a protocol answer, and the server must still
/// serve the next valid call.
/// </summary>
[Collection(RpcServerGroup.Name)]
public sealed class MalformedInputTests : IDisposable
{
    private readonly RpcServerFixture _server;

    private static readonly string EchoPath = TestMethods.Echo.Path;

    private readonly HttpClient _http = new(new SocketsHttpHandler { EnableMultipleHttp2Connections = true, UseProxy = false });
    private readonly HttpClient _tlsHttp;

    // Trusts exactly the fixture's self-signed certificate.
    public MalformedInputTests(RpcServerFixture server)
    {
        _server = server;
        var thumbprint = server.ServerCertificate.GetCertHashString();
        _tlsHttp = new(new SocketsHttpHandler
        {
            UseProxy = false,
            SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == thumbprint },
        });
    }

    public void Dispose()
    {
        _http.Dispose();
        _tlsHttp.Dispose();
    }

    public static TheoryData<string, byte[]> BadBodies => new()
    {
        { "empty body", [] },
        { "truncated prefix", [0, 0, 0] },
        { "prefix larger than the body", [0, 0, 0, 0, 100, .. new byte[50]] },
        { "invalid flag byte", [0x7F, 0, 0, 0, 1, 0] },
        { "garbage bytes", [0x47, 0x41, 0x52, 0x42, 0x41, 0x47, 0x45, 0xFF, 0xFE, 0x00, 0x13] },
        { "payload that is not protobuf", [0, 0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0xFF] },
        { "two messages for a unary call", [0, 0, 0, 0, 0, 0, 0, 0, 0, 0] },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_body_is_internal_and_the_server_stays_up(string what, byte[] body)
    {
        var (response, _, status) = await PostAsync(EchoPath, body);

        Assert.True(response.StatusCode == HttpStatusCode.OK, what);
        Assert.True(status == "13", $"{what}: grpc-status {status}");
        await AssertAliveAsync();
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/json")]
    [InlineData("application/grpc+json")]
    public async Task Wrong_content_type_is_415_with_a_grpc_status(string contentType)
    {
        var (response, _, status) = await PostAsync(EchoPath, Frame(new EchoRequest()), contentType);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("13", status);
        await AssertAliveAsync();
    }

    [Fact]
    public async Task Content_type_with_proto_suffix_and_parameters_is_accepted()
    {
        var (_, body, status) = await PostAsync(EchoPath, Frame(new EchoRequest { Message = "p" }), "application/grpc+proto; charset=binary");

        Assert.Equal("0", status);
        Assert.Equal("p", EchoReply.Parser.ParseFrom(body.AsSpan(5)).Message);
    }

    [Fact]
    public async Task Compressed_flag_and_foreign_encoding_are_unimplemented()
    {
        byte[] compressed = [1, 0, 0, 0, 2, 0x0A, 0x00];
        var (_, _, flagStatus) = await PostAsync(EchoPath, compressed);
        var (gzip, _, encodingStatus) = await PostAsync(EchoPath, Frame(new EchoRequest()), headers: [("grpc-encoding", "gzip")]);

        Assert.Equal("12", flagStatus);
        Assert.Equal("12", encodingStatus);
        Assert.Equal("identity", gzip.Headers.GetValues("grpc-accept-encoding").Single());
        await AssertAliveAsync();
    }

    [Fact]
    public async Task Http1_request_gets_426_with_grpc_status_internal()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_server.TlsAddress, EchoPath))
        {
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = GrpcContent(Frame(new EchoRequest())),
        };
        using var response = await _tlsHttp.SendAsync(request);

        Assert.Equal(HttpStatusCode.UpgradeRequired, response.StatusCode);
        Assert.Equal("13", response.Headers.GetValues("grpc-status").Single());
    }

    [Fact]
    public async Task Success_sends_headers_message_and_trailers_while_early_errors_are_trailers_only()
    {
        var (ok, okBody, okStatus) = await PostAsync(EchoPath, Frame(new EchoRequest { Message = "m" }));
        Assert.False(ok.Headers.Contains("grpc-status"));
        Assert.Equal("0", ok.TrailingHeaders.GetValues("grpc-status").Single());
        Assert.Equal("h", ok.Headers.GetValues("x-reply-header").Single());
        Assert.Equal("t", ok.TrailingHeaders.GetValues("x-reply-trailer").Single());
        Assert.Equal("0", okStatus);
        Assert.Equal(0, okBody[0]);
        Assert.Equal(okBody.Length - 5, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(okBody.AsSpan(1)));
        Assert.Equal("m", EchoReply.Parser.ParseFrom(okBody.AsSpan(5)).Message);

        var (failed, failedBody, _) = await PostAsync(TestMethods.Fail.Path, Frame(new FailRequest { Code = 9, Detail = "50%\n" }));
        Assert.Equal("9", failed.Headers.GetValues("grpc-status").Single());
        Assert.Equal("50%25%0A", failed.Headers.GetValues("grpc-message").Single());
        Assert.Equal("application/grpc", failed.Content.Headers.ContentType?.MediaType);
        Assert.Empty(failedBody);
    }

    [Fact]
    public async Task Grpc_timeout_header_is_enforced_by_the_server()
    {
        var probe = "server-deadline-" + Guid.NewGuid();
        await AssertAliveAsync();
        var clock = Stopwatch.StartNew();
        var (_, _, status) = await PostAsync(
            TestMethods.Sleep.Path, Frame(new EchoRequest { Message = probe, SleepMs = 20_000 }), headers: [("grpc-timeout", "200m")]);

        Assert.Equal("4", status);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        await _server.Service.CancellationSeen(probe).WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Oversized_prefix_is_refused_before_the_body_arrives()
    {
        // Announce 5 MiB, send 10 bytes and keep the stream open: the answer must not wait for the rest.
        var never = new TaskCompletionSource();
        using var request = Request(EchoPath, new PartialContent([0, 0, 0x50, 0, 0, .. new byte[10]], never.Task));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);

        Assert.Equal("8", response.Headers.GetValues("grpc-status").Single());
        never.SetResult();
        await AssertAliveAsync();
    }

    [Fact]
    public async Task Stream_reset_mid_message_leaves_the_server_serving()
    {
        var never = new TaskCompletionSource();
        using var request = Request(EchoPath, new PartialContent([0, 0, 0, 1, 0, .. new byte[40]], never.Task));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        // Cancelling a request whose body is still being sent resets the HTTP/2 stream (RST_STREAM CANCEL).
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _http.SendAsync(request, cts.Token));
        await AssertAliveAsync();
    }

    [Fact]
    public async Task Abandoning_a_server_stream_leaves_the_server_serving()
    {
        using var channel = _server.H2cChannel();
        await foreach (var reply in channel.ServerStreamingAsync(TestMethods.Count, new CountRequest { Count = 100_000 }))
        {
            if (reply.Message == "10")
            {
                break;
            }
        }

        await AssertAliveAsync();
    }

    [Fact]
    public async Task Garbage_on_the_connection_leaves_the_server_serving()
    {
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, _server.H2cPort);
            var stream = tcp.GetStream();
            var junk = new byte[4096];
            new Random(7).NextBytes(junk);
            await stream.WriteAsync(junk);
            var buffer = new byte[1024];
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));

            // The server answers with GOAWAY and closes; read until it does.
            while (await stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }
        }

        await AssertAliveAsync();
    }

    private static byte[] Frame(IMessage message)
    {
        var payload = message.ToByteArray();
        return [0, (byte)(payload.Length >> 24), (byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length, .. payload];
    }

    public static TheoryData<string, string, string> RoutedPaths => new()
    {
        { "registered method", EchoPath, "0" },
        { "registered method, other case (routing ignores case)", EchoPath.ToUpperInvariant(), "0" },
        { "unregistered method of a registered service", "/" + TestMethods.Echo.ServiceName + "/Nope", "12" },
        { "unregistered method, service in other case", "/" + TestMethods.Echo.ServiceName.ToUpperInvariant() + "/Nope", "12" },
        { "registered method name under an unknown service", "/dtrust.test.v1.Nope/" + TestMethods.Echo.Name, "12" },
        { "registered service name as a method name", "/dtrust.test.v1.Nope/" + TestMethods.Echo.ServiceName, "12" },
    };

    /// <summary>The UNIMPLEMENTED fallbacks are kept off registered paths at route-building time; each path still lands right.</summary>
    [Theory]
    [MemberData(nameof(RoutedPaths))]
    public async Task Every_path_reaches_its_method_or_an_unimplemented_fallback(string what, string path, string expected)
    {
        var (response, _, status) = await PostAsync(path, Frame(new EchoRequest()));

        Assert.True(response.StatusCode == HttpStatusCode.OK, what);
        Assert.True(status == expected, $"{what}: grpc-status {status}");
    }

    [Fact]
    public async Task Unregistered_method_without_grpc_content_type_is_plain_404()
    {
        var (response, _, status) = await PostAsync("/" + TestMethods.Echo.ServiceName + "/Nope", [], "text/plain");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Null(status);
    }

    private static ByteArrayContent GrpcContent(byte[] body, string contentType = "application/grpc")
    {
        var content = new ByteArrayContent(body);
        content.Headers.TryAddWithoutValidation("content-type", contentType);
        return content;
    }

    private HttpRequestMessage Request(string path, HttpContent content, string contentType = "application/grpc")
    {
        content.Headers.TryAddWithoutValidation("content-type", contentType);
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(_server.H2cAddress, path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        return request;
    }

    /// <summary>Posts a raw body; the status comes from the headers (Trailers-Only) or, after the body, the trailers.</summary>
    private async Task<(HttpResponseMessage Response, byte[] Body, string? GrpcStatus)> PostAsync(
        string path, byte[] body, string contentType = "application/grpc", (string Name, string Value)[]? headers = null)
    {
        var request = Request(path, new ByteArrayContent(body), contentType);
        foreach (var (name, value) in headers ?? [])
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var response = await _http.SendAsync(request, cts.Token);
        var bytes = await response.Content.ReadAsByteArrayAsync(cts.Token);
        var status = response.Headers.TryGetValues("grpc-status", out var h) ? h.Single()
            : response.TrailingHeaders.TryGetValues("grpc-status", out var t) ? t.Single() : null;
        return (response, bytes, status);
    }

    private async Task AssertAliveAsync()
    {
        using var channel = _server.H2cChannel();
        var reply = await channel.UnaryAsync(TestMethods.Echo, new EchoRequest { Message = "alive" }, Client.CallOptions.WithTimeout(TimeSpan.FromSeconds(10)));
        Assert.Equal("alive", reply.Message);
    }

    /// <summary>Sends some bytes, then holds the request body open until <c>release</c> completes or the call is cancelled.</summary>
    private sealed class PartialContent(byte[] first, Task release) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(first, cancellationToken);
            await stream.FlushAsync(cancellationToken);
            await release.WaitAsync(cancellationToken);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}
