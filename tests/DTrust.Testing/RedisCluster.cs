using System.Globalization;

namespace DTrust.Testing;

/// <summary>
/// A real three-master Redis Cluster on loopback (redis-server --cluster-enabled yes × 3, redis-cli --cluster
/// create), one password for all, for the tests of the challenge scripts across slots and nodes.
/// </summary>
public sealed class RedisCluster : IAsyncDisposable
{
    private RedisCluster(IReadOnlyList<RedisServer> nodes) => Nodes = nodes;

    public IReadOnlyList<RedisServer> Nodes { get; }

    /// <summary>The seed list the server is given (StackExchange.Redis discovers the slots from any of them).</summary>
    public string Configuration => string.Join(',', Nodes.Select(n => n.Configuration));

    public string PasswordFile => Nodes[0].PasswordFile;

    public static async Task<RedisCluster> StartAsync()
    {
        var password = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
        var nodes = new List<RedisServer>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                nodes.Add(await RedisServer.StartClusterNodeAsync(password));
            }

            var cluster = new RedisCluster(nodes);
            (await CliAsync(nodes[0], ["--cluster", "create", .. nodes.Select(n => n.Configuration), "--cluster-replicas", "0", "--cluster-yes"]))
                .EnsureSuccess("redis-cli --cluster create");

            // Every node must agree before a client sees the slots.
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (true)
            {
                var states = await Task.WhenAll(nodes.Select(n => CliAsync(n, ["cluster", "info"])));
                if (states.All(s => s.StdOut.Contains("cluster_state:ok", StringComparison.Ordinal)))
                {
                    return cluster;
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new InvalidOperationException("the Redis Cluster did not reach cluster_state:ok: " + states[0].StdOut);
                }

                await Task.Delay(200);
            }
        }
        catch
        {
            foreach (var n in nodes)
            {
                await n.DisposeAsync();
            }

            throw;
        }
    }

    /// <summary>redis-cli against one node; the password travels in REDISCLI_AUTH, not on the command line.</summary>
    public static Task<ProcessRunner.Result> CliAsync(RedisServer node, IEnumerable<string> args) =>
        ProcessRunner.RunAsync("redis-cli", ["-h", "127.0.0.1", "-p", node.Port.ToString(CultureInfo.InvariantCulture), .. args],
            new Dictionary<string, string> { ["REDISCLI_AUTH"] = node.Password });

    /// <summary>Keys held by each master right now.</summary>
    public async Task<long[]> KeyCountsAsync() =>
        await Task.WhenAll(Nodes.Select(async n => long.Parse((await CliAsync(n, ["dbsize"])).EnsureSuccess("redis-cli dbsize").StdOut.Trim(), CultureInfo.InvariantCulture)));

    public async ValueTask DisposeAsync()
    {
        foreach (var n in Nodes)
        {
            await n.DisposeAsync();
        }
    }
}
