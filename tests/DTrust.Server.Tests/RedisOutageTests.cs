using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using DTrust.Client;
using DTrust.Testing;
using Grpc.Health.V1;

namespace DTrust.Server.Tests;

/// <summary>
/// Health reports what signing depends on: with Redis stopped, grpc.health.v1 turns NOT_SERVING and /healthz 503
/// with redis "down"; with Redis back on the same port both recover without restarting the server. A server of its
/// own, with a Redis this test can stop and start (password-protected, as in production).
/// </summary>
public sealed class RedisOutageTests
{
    private static readonly TimeSpan FewProbePeriods = TimeSpan.FromSeconds(20);

    // StackExchange.Redis reconnects with a back-off of a few seconds.
    private static readonly TimeSpan Reconnect = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Redis_down_is_not_serving_and_redis_back_is_serving_again()
    {
        var dir = Directory.CreateTempSubdirectory("dtrust-redis-outage-").FullName;
        var password = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        var passwordFile = Path.Combine(dir, "password");
        await File.WriteAllTextAsync(passwordFile, password + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite); // the server refuses anything wider
        }
        var port = RedisServer.FreePort();
        Process? redis = await StartRedisAsync(port, password, dir);
        try
        {
            await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
            {
                ["DTrust__Redis__Configuration"] = "127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture),
                ["DTrust__Redis__PasswordFile"] = passwordFile,
                ["DTrust__HealthProbeSeconds"] = "1",
            });
            using var client = DTrustClient.Connect(server.GrpcAddress);
            using var http = new HttpClient { BaseAddress = server.HttpAddress, Timeout = TimeSpan.FromSeconds(10) };
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await client.CheckHealthAsync());

            await StopAsync(redis);
            redis = null;
            await WaitForAsync(client, HealthCheckResponse.Types.ServingStatus.NotServing, FewProbePeriods, server);
            using (var down = await http.GetAsync(new Uri("/healthz", UriKind.Relative)))
            {
                var body = await down.Content.ReadAsStringAsync();
                Assert.True(down.StatusCode == HttpStatusCode.ServiceUnavailable, $"{(int)down.StatusCode} {body}");
                AssertOnlyWords(body, expectedRedis: "down", expectedOverall: "down");
            }

            // The TSA's own service does not depend on Redis: it stays SERVING while the server as a whole is not.
            Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await client.CheckHealthAsync("dtrust.tsa.v1.TimestampService"));

            redis = await StartRedisAsync(port, password, dir);
            await WaitForAsync(client, HealthCheckResponse.Types.ServingStatus.Serving, Reconnect, server);
            using var up = await http.GetAsync(new Uri("/healthz", UriKind.Relative));
            var upBody = await up.Content.ReadAsStringAsync();
            Assert.True(up.StatusCode == HttpStatusCode.OK, $"{(int)up.StatusCode} {upBody}");
            AssertOnlyWords(upBody, expectedRedis: "up", expectedOverall: "up");
        }
        finally
        {
            if (redis is not null)
            {
                await StopAsync(redis);
            }

            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The body is the overall word and one word per check: no exception text, address or timing.</summary>
    private static void AssertOnlyWords(string body, string expectedRedis, string expectedOverall)
    {
        using var json = JsonDocument.Parse(body);
        var root = json.RootElement;
        Assert.Equal(["checks", "status"], root.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(expectedOverall, root.GetProperty("status").GetString());
        var checks = root.GetProperty("checks").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        Assert.Equal(expectedRedis, checks["redis"]);
        Assert.All(checks, c => Assert.True(c.Key == "redis" ? c.Value == expectedRedis : c.Value == "up", body));
        Assert.DoesNotContain("xception", body, StringComparison.Ordinal);
        Assert.DoesNotContain("127.0.0.1", body, StringComparison.Ordinal);
    }

    private static async Task WaitForAsync(
        DTrustClient client, HealthCheckResponse.Types.ServingStatus expected, TimeSpan within, ServerProcess server)
    {
        var clock = Stopwatch.StartNew();
        var last = HealthCheckResponse.Types.ServingStatus.Unknown;
        while (clock.Elapsed < within)
        {
            last = await client.CheckHealthAsync();
            if (last == expected)
            {
                return;
            }

            await Task.Delay(250);
        }

        Assert.Fail($"health still {last} after {within.TotalSeconds}s, expected {expected}\n{server.Log}");
    }

    private static async Task<Process> StartRedisAsync(int port, string password, string dir)
    {
        var psi = new ProcessStartInfo(ProcessRunner.RequireTool("redis-server"))
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };

        // The password goes through stdin (a config file on "-"), never the command line.
        psi.ArgumentList.Add("-");
        var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start redis-server");
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        await p.StandardInput.WriteAsync(
            $"port {port}\nbind 127.0.0.1\ndir {dir}\nsave \"\"\nappendonly no\nrequirepass {password}\n");
        p.StandardInput.Close();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline && !p.HasExited)
        {
            try
            {
                using var c = new TcpClient();
                await c.ConnectAsync(IPAddress.Loopback, port);
                return p;
            }
            catch (SocketException)
            {
                await Task.Delay(50);
            }
        }

        await StopAsync(p);
        throw new InvalidOperationException("redis-server did not start on port " + port.ToString(CultureInfo.InvariantCulture));
    }

    private static async Task StopAsync(Process redis)
    {
        if (!redis.HasExited)
        {
            redis.Kill();
            await redis.WaitForExitAsync();
        }

        redis.Dispose();
    }
}
