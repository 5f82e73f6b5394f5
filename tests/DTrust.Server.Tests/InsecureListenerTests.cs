using System.Globalization;
using DTrust.Client;
using DTrust.Testing;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace DTrust.Server.Tests;

/// <summary>
/// Development mode never listens off loopback. In production, a gRPC listener off loopback without TLS is refused
/// at start-up unless the operator sets AllowInsecure. The
/// server started with it also carries a 1-second default deadline, so that calls without a deadline can be seen
/// to end (the shared server keeps the 30-second default).
/// </summary>
public sealed class InsecureListenerTests : IDisposable
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), "dtrust-insecure-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>
    /// Production mode, since development refuses 0.0.0.0 whatever AllowInsecure says: on a state a development
    /// start prepared, with the certificates it issued configured.
    /// </summary>
    private async Task<Dictionary<string, string>> ProductionAsync()
    {
        await using (await ServerProcess.StartAsync(stateDir: _state))
        {
        }

        return ServerProcess.ProductionEnvironment(_state);
    }

    public void Dispose()
    {
        if (Directory.Exists(_state))
        {
            Directory.Delete(_state, recursive: true);
        }
    }

    private static string AnyAddress(int port) => "0.0.0.0:" + port.ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task Cleartext_grpc_on_all_interfaces_is_refused_naming_AllowInsecure()
    {
        var production = await ProductionAsync();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["DTrust__Listen__Grpc"] = AnyAddress(RedisServer.FreePort()),
        }.With(production), _state));

        Assert.Contains("server exited during start-up", e.Message, StringComparison.Ordinal);
        Assert.Contains("refusing to serve gRPC in clear on the non-loopback address 0.0.0.0:", e.Message, StringComparison.Ordinal);
        Assert.Contains("AllowInsecure", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Grpc", true)]
    [InlineData("Http", false)]
    [InlineData("Admin", false)]
    public async Task Development_mode_refuses_every_listener_off_loopback_even_with_AllowInsecure(string listener, bool allowInsecure)
    {
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerProcess.StartAsync(new Dictionary<string, string>
        {
            [$"DTrust__Listen__{listener}"] = AnyAddress(RedisServer.FreePort()),
            ["DTrust__Listen__AllowInsecure"] = allowInsecure ? "true" : "false",
        }));

        Assert.Contains(
            $"refusing to start in development mode with DTrust:Listen:{listener} on the non-loopback address 0.0.0.0:",
            e.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_AllowInsecure_it_serves_and_calls_without_deadline_get_the_default()
    {
        var production = await ProductionAsync();
        var port = RedisServer.FreePort();
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["DTrust__Listen__Grpc"] = AnyAddress(port),
            ["DTrust__Listen__AllowInsecure"] = "true",
            ["DTrust__Grpc__DefaultDeadlineSeconds"] = "1",
            ["DTrust__Grpc__MaxDeadlineSeconds"] = "2",
        }.With(production), _state);
        var address = new Uri("http://127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture));
        using (var client = DTrustClient.Connect(address))
        {
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await client.CheckHealthAsync());
        }

        // A call that never ends by itself (Watch streams until cancelled), sent without a deadline: the server's
        // default ends it.
        using (var channel = GrpcChannel.ForAddress(address))
        {
            using var watch = new Health.HealthClient(channel).Watch(new HealthCheckRequest());

            // Our own patience, well past the 1-second default: if it runs out, the call ends CANCELLED and fails here.
            using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            var e = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                while (await watch.ResponseStream.MoveNext(patience.Token))
                {
                }
            });
            Assert.True(e.StatusCode == StatusCode.DeadlineExceeded, e.Status.ToString());

            // The same call asking for a day: cut to the 2-second cap. Without the cap the patience runs out, the
            // call ends CANCELLED, and this fails.
            using var longWatch = new Health.HealthClient(channel).Watch(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddDays(1));
            var capped = await Assert.ThrowsAsync<RpcException>(async () =>
            {
                while (await longWatch.ResponseStream.MoveNext(patience.Token))
                {
                }
            });
            Assert.True(capped.StatusCode == StatusCode.DeadlineExceeded, capped.Status.ToString());
        }

        // No grpc-timeout, and a message whose body never completes: the default deadline ends the stream too (the
        // server resets it, which HttpClient reports as a cancellation of the body it was still sending, or as a
        // protocol error CANCEL when the reset arrives while it reads).
        using var raw = new RawGrpc();
        var never = new TaskCompletionSource();
        using var request = RawGrpc.Request(address, RawGrpc.TimestampPath, new RawGrpc.PartialContent([0, 0, 0, 0, 100, 0x0A], never.Task));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        string? status = null;
        try
        {
            using var response = await raw.SendAsync(request, HttpCompletionOption.ResponseContentRead, cts.Token);
            status = response.TrailingHeaders.TryGetValues("grpc-status", out var t) ? t.Single()
                : response.Headers.TryGetValues("grpc-status", out var h) ? h.Single() : "none";
        }
        catch (OperationCanceledException) when (!cts.IsCancellationRequested)
        {
            status = "reset";
        }
        catch (HttpRequestException e) when (e.InnerException is HttpProtocolException { ErrorCode: 0x8 })
        {
            // The same reset (RST_STREAM CANCEL) seen while HttpClient was reading rather than sending.
            status = "reset";
        }

        never.SetResult();
        Assert.True(status is "4" or "reset", "grpc-status " + status);
        await RawGrpc.AssertServingAsync(address);
    }
}
