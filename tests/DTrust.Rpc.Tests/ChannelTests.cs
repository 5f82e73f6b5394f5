using System.Diagnostics;
using DTrust.Rpc.Client;
using DTrust.Rpc.Health;
using DTrust.Rpc.Tests.Protos;
using Google.Protobuf;
using Grpc.Health.V1;
using Xunit;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace DTrust.Rpc.Tests;

/// <summary>Our client against our server on Kestrel, over h2c and TLS.</summary>
[Collection(RpcServerGroup.Name)]
public sealed class ChannelTests(RpcServerFixture server) : IDisposable
{
    /// <summary>Contains '%', a newline and non-ASCII text: every character the percent-encoding must carry.</summary>
    public const string TrickyDetail = "100% not valid\nzweite Zeile: Prüfsumme ✓";

    private readonly GrpcChannel _h2c = server.H2cChannel();
    private readonly GrpcChannel _tls = server.TlsChannel();

    public static TheoryData<string> Transports => new() { "h2c", "tls" };

    public void Dispose()
    {
        _h2c.Dispose();
        _tls.Dispose();
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Unary_call_returns_the_response_and_sees_metadata(string transport)
    {
        var headers = new Metadata { { "x-test", "value-1" } };
        var reply = await Channel(transport).UnaryAsync(
            TestMethods.Echo, new EchoRequest { Message = "hello ü" }, new CallOptions { Headers = headers });

        Assert.Equal("hello ü", reply.Message);
        Assert.Equal("value-1", reply.Header);
        Assert.StartsWith("ipv4:127.0.0.1:", reply.Peer, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Error_status_with_percent_newline_and_utf8_arrives_decoded_with_trailers(string transport)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => Channel(transport).UnaryAsync(
            TestMethods.Fail, new FailRequest { Code = (int)StatusCode.InvalidArgument, Detail = TrickyDetail }));

        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Equal(TrickyDetail, ex.Detail);
        Assert.Equal("yes", ex.Trailers.GetValue("x-fail-trailer"));
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Unknown_method_and_unknown_service_are_unimplemented(string transport)
    {
        var method = await Assert.ThrowsAsync<RpcException>(() => Channel(transport).UnaryAsync(TestMethods.Missing, new EchoRequest()));
        var service = await Assert.ThrowsAsync<RpcException>(() => Channel(transport).UnaryAsync(TestMethods.NoService, new EchoRequest()));

        Assert.Equal(StatusCode.Unimplemented, method.StatusCode);
        Assert.Equal(StatusCode.Unimplemented, service.StatusCode);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Expired_deadline_is_deadline_exceeded_and_cancels_the_handler(string transport)
    {
        var probe = "deadline-" + Guid.NewGuid();

        // A warm connection, so the deadline cannot pass before the request has reached the handler.
        await Channel(transport).UnaryAsync(TestMethods.Echo, new EchoRequest());
        var clock = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<RpcException>(() => Channel(transport).UnaryAsync(
            TestMethods.Sleep, new EchoRequest { Message = probe, SleepMs = 20_000 }, CallOptions.WithTimeout(TimeSpan.FromSeconds(1))));

        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        await server.Service.CancellationSeen(probe).WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Client_cancellation_is_cancelled_and_reaches_the_handler()
    {
        var probe = "cancel-" + Guid.NewGuid();
        await _h2c.UnaryAsync(TestMethods.Echo, new EchoRequest());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        var ex = await Assert.ThrowsAsync<RpcException>(() => _h2c.UnaryAsync(
            TestMethods.Sleep, new EchoRequest { Message = probe, SleepMs = 20_000 }, new CallOptions { CancellationToken = cts.Token }));

        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await server.Service.CancellationSeen(probe).WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Request_over_4_MiB_is_resource_exhausted_and_just_under_passes(string transport)
    {
        var big = new EchoRequest { Payload = ByteString.CopyFrom(new byte[5 * 1024 * 1024]) };
        var ex = await Assert.ThrowsAsync<RpcException>(() => Channel(transport).UnaryAsync(TestMethods.Echo, big));
        Assert.Equal(StatusCode.ResourceExhausted, ex.StatusCode);

        // 4 MiB minus the protobuf field overhead fits the limit exactly.
        var fits = new EchoRequest { Payload = ByteString.CopyFrom(new byte[(4 * 1024 * 1024) - 5]) };
        Assert.Equal(4 * 1024 * 1024, fits.CalculateSize());
        var reply = await Channel(transport).UnaryAsync(TestMethods.Echo, fits);
        Assert.Equal(fits.Payload.Length, reply.PayloadSize);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Server_stream_delivers_every_message_in_order(string transport)
    {
        var got = new List<string>();
        await foreach (var reply in Channel(transport).ServerStreamingAsync(TestMethods.Count, new CountRequest { Count = 50 }))
        {
            got.Add(reply.Message);
        }

        Assert.Equal(Enumerable.Range(0, 50).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), got);
    }

    [Fact]
    public async Task Server_stream_failing_after_messages_reports_status_from_trailers()
    {
        var got = new List<string>();
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            await foreach (var reply in _h2c.ServerStreamingAsync(TestMethods.Count, new CountRequest { Count = -3 }))
            {
                got.Add(reply.Message);
            }
        });

        Assert.Equal(["0", "1", "2"], got);
        Assert.Equal(StatusCode.Aborted, ex.StatusCode);
        Assert.Equal("stream broke after 3", ex.Detail);
    }

    [Fact]
    public async Task Unexpected_exception_is_unknown_with_details_only_in_the_log()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => _h2c.UnaryAsync(TestMethods.Crash, new EchoRequest { Message = "x" }));

        Assert.Equal(StatusCode.Unknown, ex.StatusCode);
        Assert.DoesNotContain("secret", ex.Detail, StringComparison.Ordinal);
        Assert.Contains(server.Log.Lines, l => l.Contains("secret internal detail 42", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Exception_mapper_translates_host_exceptions()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(() => _h2c.UnaryAsync(TestMethods.Crash, new EchoRequest { Message = "domain" }));

        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
        Assert.Equal("mapped: no such credential", ex.Detail);
    }

    [Theory]
    [MemberData(nameof(Transports))]
    public async Task Health_check_is_serving_and_unknown_service_is_not_found(string transport)
    {
        var reply = await Channel(transport).UnaryAsync(HealthService.CheckMethod, new HealthCheckRequest());
        var ex = await Assert.ThrowsAsync<RpcException>(() => Channel(transport).UnaryAsync(
            HealthService.CheckMethod, new HealthCheckRequest { Service = "no.such.Service" }));

        Assert.Equal(ServingStatus.Serving, reply.Status);
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
    }

    [Fact]
    public async Task Health_watch_streams_the_current_status_then_changes()
    {
        const string name = "dtrust.test.v1.Watched";
        server.Health.SetStatus(name, ServingStatus.NotServing);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var seen = new List<ServingStatus>();
        await foreach (var update in _h2c.ServerStreamingAsync(
            HealthService.WatchMethod, new HealthCheckRequest { Service = name }, new CallOptions { CancellationToken = cts.Token }))
        {
            seen.Add(update.Status);
            if (seen.Count == 1)
            {
                server.Health.SetStatus(name, ServingStatus.Serving);
            }
            else
            {
                break;
            }
        }

        Assert.Equal([ServingStatus.NotServing, ServingStatus.Serving], seen);
    }

    [Fact]
    public async Task Calls_256_in_flight_at_once_all_complete()
    {
        const int n = 256;
        server.Service.ResetBarrier(n);
        var calls = Enumerable.Range(0, n).Select(_ => _h2c.UnaryAsync(
            TestMethods.Sleep, new EchoRequest { Message = "barrier" }, CallOptions.WithTimeout(TimeSpan.FromSeconds(60))));

        // Each handler waits until all 256 are inside the server, so success proves they were in flight together.
        var replies = await Task.WhenAll(calls);

        Assert.All(replies, r => Assert.Equal("barrier", r.Message));
    }

    [Fact]
    public async Task Tls_client_certificate_reaches_the_handler()
    {
        using var channel = server.TlsChannel(server.ClientCertificate);
        var reply = await channel.UnaryAsync(TestMethods.Echo, new EchoRequest { Message = "cert" });

        Assert.Equal("CN=dtrust-test-partner", reply.ClientCertificate);
        Assert.Equal("", (await _tls.UnaryAsync(TestMethods.Echo, new EchoRequest())).ClientCertificate);
    }

    [Fact]
    public async Task Server_that_is_not_there_is_unavailable()
    {
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{DTrust.Testing.RedisServer.FreePort()}");
        var ex = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(TestMethods.Echo, new EchoRequest()));

        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
    }

    private GrpcChannel Channel(string transport) => transport == "tls" ? _tls : _h2c;
}
