using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;

namespace DTrust.Server.Tests;

/// <summary>
/// Raw HTTP/2 requests to the real server's gRPC port that no well-behaved client sends. Each must get a protocol
/// answer (an HTTP status or a gRPC status), and the server must still serve the next valid call.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed class MalformedInputTests(ServerFixture fixture) : IDisposable
{
    private readonly RawGrpc _raw = new();

    private Uri Grpc => fixture.Server.GrpcAddress;

    public void Dispose() => _raw.Dispose();

    private static byte[] ValidTimestampRequest() =>
        RawGrpc.TimestampRequest(Rfc3161TimestampRequest.CreateFromData("malformed"u8, HashAlgorithmName.SHA256).Encode());

    [Fact]
    public async Task Well_formed_raw_call_succeeds()
    {
        // The control for every case below: the same client, path and framing, done right.
        var answer = await _raw.PostAsync(Grpc, RawGrpc.TimestampPath, RawGrpc.Frame(ValidTimestampRequest()));

        Assert.True(answer.Status == HttpStatusCode.OK && answer.GrpcStatus == "0", answer.ToString());
        Assert.Equal(answer.Body.Length - 5, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(answer.Body.AsSpan(1)));
    }

    /// <summary>
    /// Framing errors are INTERNAL. A payload that fails to parse (or a flag byte that is neither 0 nor 1) is UNKNOWN
    /// with Grpc.AspNetCore's generic "Exception was thrown by handler.": it is read before any interceptor runs, so
    /// ErrorInterceptor cannot map it (grpc-go and grpc-java say INTERNAL there). The message names no exception.
    /// </summary>
    public static TheoryData<string, byte[], string> BadBodies => new()
    {
        // Length prefix says 100, 10 bytes follow, the stream ends.
        { "truncated message", [0, 0, 0, 0, 100, .. new byte[10]], "13" },
        { "truncated prefix", [0, 0, 0], "13" },
        { "no message at all", [], "13" },
        { "payload that is not protobuf", RawGrpc.Frame([0xFF, 0xFF, 0xFF, 0xFF]), "2" },
        { "garbage instead of a frame", [0x47, 0x41, 0x52, 0x42, 0x41, 0x47, 0x45, 0xFF, 0xFE, 0x00, 0x13], "2" },
        { "two messages for a unary call", [.. RawGrpc.Frame([]), .. RawGrpc.Frame([])], "13" },
    };

    [Theory]
    [MemberData(nameof(BadBodies))]
    public async Task Bad_body_gets_a_grpc_error_and_the_server_stays_up(string what, byte[] body, string expected)
    {
        var answer = await _raw.PostAsync(Grpc, RawGrpc.TimestampPath, body);

        Assert.True(answer.Status == HttpStatusCode.OK && answer.GrpcStatus == expected, $"{what}: {answer}");
        Assert.DoesNotContain("Protobuf", answer.GrpcMessage ?? "", StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidData", answer.GrpcMessage ?? "", StringComparison.Ordinal);
        await RawGrpc.AssertServingAsync(Grpc);
    }

    [Theory]
    [InlineData("over the 64 KiB TSA limit", 64 * 1024 + 1)]
    [InlineData("over the 4 MiB limit of every service", 5 * 1024 * 1024)]
    public async Task Length_prefix_over_the_limit_is_refused_before_the_body_arrives(string what, int announced)
    {
        // Announce the length, send 10 bytes and keep the stream open: the answer must not wait for the rest.
        var never = new TaskCompletionSource();
        byte[] head = [0, (byte)(announced >> 24), (byte)(announced >> 16), (byte)(announced >> 8), (byte)announced, .. new byte[10]];
        using var request = RawGrpc.Request(Grpc, RawGrpc.TimestampPath, new RawGrpc.PartialContent(head, never.Task));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var response = await _raw.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);

        var status = response.Headers.TryGetValues("grpc-status", out var h) ? h.Single() : null;
        Assert.True(status == "8", $"{what}: HTTP {(int)response.StatusCode}, grpc-status {status ?? "none"}");
        never.SetResult();
        await RawGrpc.AssertServingAsync(Grpc);
    }

    [Theory]
    [InlineData("over the 64 KiB signing limit", 64 * 1024 + 1)]
    [InlineData("over the 4 MiB limit of every service", 5 * 1024 * 1024)]
    public async Task Signing_request_over_its_limit_is_refused_before_the_body_arrives(string what, int announced)
    {
        // The largest real SignHash (100 SHA-512 hashes) is a few KiB: a caller must not make the node hold 4 MiB
        // for each of its streams. Announced, never sent: the refusal comes from the length prefix alone. With a
        // partner's key, because a call without one is turned away before its first message is even read.
        var never = new TaskCompletionSource();
        byte[] head = [0, (byte)(announced >> 24), (byte)(announced >> 16), (byte)(announced >> 8), (byte)announced, .. new byte[10]];
        using var request = RawGrpc.Request(Grpc, RawGrpc.SignHashPath, new RawGrpc.PartialContent(head, never.Task));
        request.Headers.TryAddWithoutValidation("authorization", "Bearer " + fixture.Server.ApiKey("partner"));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var response = await _raw.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);

        var status = response.Headers.TryGetValues("grpc-status", out var h) ? h.Single() : null;
        Assert.True(status == "8", $"{what}: HTTP {(int)response.StatusCode}, grpc-status {status ?? "none"}");
        never.SetResult();
        await RawGrpc.AssertServingAsync(Grpc);
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/json")]
    public async Task Wrong_content_type_is_415_with_a_grpc_status(string contentType)
    {
        var answer = await _raw.PostAsync(Grpc, RawGrpc.TimestampPath, RawGrpc.Frame(ValidTimestampRequest()), contentType);

        Assert.True(answer.Status == HttpStatusCode.UnsupportedMediaType && answer.GrpcStatus == "13", answer.ToString());
        await RawGrpc.AssertServingAsync(Grpc);
    }

    [Fact]
    public async Task Invalid_base64_in_a_bin_header_does_not_break_the_call_or_the_server()
    {
        // The service never reads x-foo-bin, so the header is not decoded; what matters is an orderly gRPC answer.
        var answer = await _raw.PostAsync(
            Grpc, RawGrpc.TimestampPath, RawGrpc.Frame(ValidTimestampRequest()), headers: [("x-foo-bin", "!!!not base64%%%")]);

        Assert.True(answer.Status == HttpStatusCode.OK && answer.GrpcStatus == "0", answer.ToString());
        await RawGrpc.AssertServingAsync(Grpc);
    }

    [Fact]
    public async Task Compressed_flag_with_an_unknown_encoding_is_unimplemented()
    {
        var unknown = await _raw.PostAsync(
            Grpc, RawGrpc.TimestampPath, RawGrpc.Frame([0x0A, 0x00], flag: 1), headers: [("grpc-encoding", "x-no-such-codec")]);
        var undeclared = await _raw.PostAsync(Grpc, RawGrpc.TimestampPath, RawGrpc.Frame([0x0A, 0x00], flag: 1));

        Assert.True(unknown.GrpcStatus == "12", "unknown grpc-encoding: " + unknown);
        Assert.True(undeclared.GrpcStatus == "13", "compressed flag without grpc-encoding: " + undeclared);
        await RawGrpc.AssertServingAsync(Grpc);
    }

    [Fact]
    public async Task Client_reset_mid_message_leaves_the_server_serving()
    {
        var never = new TaskCompletionSource();
        using var request = RawGrpc.Request(Grpc, RawGrpc.TimestampPath, new RawGrpc.PartialContent([0, 0, 0, 1, 0, .. new byte[40]], never.Task));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        // Cancelling a request whose body is still being sent resets the HTTP/2 stream (RST_STREAM CANCEL).
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _raw.SendAsync(request, HttpCompletionOption.ResponseContentRead, cts.Token));
        await RawGrpc.AssertServingAsync(Grpc);
    }

    [Fact]
    public async Task Garbage_instead_of_the_http2_preface_closes_only_that_connection()
    {
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, fixture.Server.GrpcPort);
            var stream = tcp.GetStream();
            var junk = new byte[4096];
            new Random(7).NextBytes(junk);
            await stream.WriteAsync(junk);
            var buffer = new byte[1024];
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));

            // The server answers with GOAWAY (or nothing) and closes; read until it does. A hang fails the test.
            while (await stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }
        }

        await RawGrpc.AssertServingAsync(Grpc);
    }
}
