using System.Net.Sockets;
using System.Text;

namespace DTrust.Server.Tests;

/// <summary>
/// One source's flood of the public HTTP listener is bounded before HTTP is read: connections beyond
/// <c>Listen:PublicConnectionsPerAddress</c> (32) from one address are closed as they arrive, and the ones it keeps
/// get their 429s late (see OcspTests for the delay), so the flood costs timers rather than the server's CPU.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed class PublicFloodTests(ServerFixture fixture)
{
    private const int Cap = 32;

    [Fact]
    public async Task Connections_over_the_cap_from_one_address_are_closed_and_the_count_is_given_back()
    {
        var clients = new List<TcpClient>();
        try
        {
            var answered = 0;
            var closed = 0;
            for (var i = 0; i < Cap + 10; i++)
            {
                var client = new TcpClient();
                clients.Add(client);
                if (await HealthOverAsync(client))
                {
                    answered++;
                }
                else
                {
                    closed++;
                }
            }

            // Other tests' idle connections from this address may hold a few of the 32.
            Assert.InRange(answered, Cap - 8, Cap);
            Assert.InRange(closed, 10, 18);
        }
        finally
        {
            clients.ForEach(c => c.Dispose());
        }

        // Closed again, the address's count goes back down: a new connection is served.
        for (var attempt = 0; ; attempt++)
        {
            using var again = new TcpClient();
            if (await HealthOverAsync(again))
            {
                break;
            }

            Assert.True(attempt < 50, "connections are still refused after the flood's were closed");
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// Connects and sends GET /healthz, keeping the connection open; false if the server closed it instead of
    /// answering (the reset can come as early as the connect).
    /// </summary>
    private async Task<bool> HealthOverAsync(TcpClient client)
    {
        try
        {
            await client.ConnectAsync(fixture.Server.HttpAddress.Host, fixture.Server.HttpAddress.Port);
            var stream = client.GetStream();
            await stream.WriteAsync("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"u8.ToArray());
            var buffer = new byte[256];
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            var n = await stream.ReadAsync(buffer, timeout.Token);
            return n > 0 && Encoding.ASCII.GetString(buffer, 0, n).StartsWith("HTTP/1.1 200", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            return false;
        }
    }
}
