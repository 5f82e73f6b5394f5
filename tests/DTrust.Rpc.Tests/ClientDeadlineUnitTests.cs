using DTrust.Rpc.Client;
using DTrust.Rpc.Tests.Protos;
using Xunit;

namespace DTrust.Rpc.Tests;

/// <summary>How the client names a call that never got an answer; no server, the handler just hangs.</summary>
public sealed class ClientDeadlineUnitTests
{
    [Fact]
    public async Task Every_expired_deadline_is_deadline_exceeded_never_cancelled()
    {
        // Short deadlines in many sizes: a timer firing a fraction of a millisecond early once turned some into
        // CANCELLED (about 1 in 80).
        using var handler = new HangingHandler();
        using var channel = GrpcChannel.ForAddress("http://127.0.0.1:1", new GrpcChannelOptions { HttpHandler = handler });
        for (var i = 0; i < 300; i++)
        {
            var timeout = TimeSpan.FromTicks(10_000 + (i * 317 % 90_000));
            var ex = await Assert.ThrowsAsync<RpcException>(() =>
                channel.UnaryAsync(TestMethods.Echo, new EchoRequest(), CallOptions.WithTimeout(timeout)));
            Assert.True(ex.StatusCode == StatusCode.DeadlineExceeded, $"{timeout}: {ex.StatusCode}");
        }
    }

    [Fact]
    public async Task Caller_cancellation_before_the_deadline_is_cancelled()
    {
        using var handler = new HangingHandler();
        using var channel = GrpcChannel.ForAddress("http://127.0.0.1:1", new GrpcChannelOptions { HttpHandler = handler });
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(20));
        var ex = await Assert.ThrowsAsync<RpcException>(() => channel.UnaryAsync(
            TestMethods.Echo, new EchoRequest(), CallOptions.WithTimeout(TimeSpan.FromMinutes(5), cts.Token)));

        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
    }

    private sealed class HangingHandler : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            throw new InvalidOperationException("unreachable");
        }
    }
}
