using BenchmarkDotNet.Attributes;
using DTrust.SigningServer.Signing;
using DTrust.Testing;
using StackExchange.Redis;

namespace DTrust.Benchmarks.Redis;

/// <summary>
/// What one signature costs in Redis, through the server's own <see cref="ChallengeStore"/> against a real
/// redis-server (DTrust.Testing, loopback, requirepass, AOF on as in <c>make run</c>): the one script of
/// AuthorizeSignature (per-credential rate counter and challenge), and the Lua check-and-consume of SignHash, beside
/// a PING round trip of the same connection in the same run. A challenge can be consumed once, so consume is
/// measured as create + consume of one challenge (per challenge); consume alone is that minus create. The "16 in flight" variants run 16 at
/// once on the one multiplexer, as the requests of a busy node do, and are reported per operation too.
/// </summary>
[Config(typeof(BenchConfig))]
public class ChallengeStoreBenchmarks
{
    private RedisServer _redis = null!;
    private ConnectionMultiplexer _connection = null!;
    private ChallengeStore _challenges = null!;
    private string _digest = "";
    private string _otpMac = "";
    private int _next;

    private const int InFlight = 16;

    [GlobalSetup]
    public async Task Setup()
    {
        _redis = await RedisServer.StartAsync();
        _connection = await ConnectionMultiplexer.ConnectAsync(_redis.AuthenticatedConfiguration);
        _challenges = new ChallengeStore(
            _connection, new OneTimeCodes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)),
            new RedisReplication(_connection, new DTrust.SigningServer.Hosting.ServerOptions()));
        _digest = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData("hash list"u8));
        _otpMac = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData("one-time code"u8));

        // Fail before timing if the script refuses what the flow would accept.
        var id = NewId();
        await CreateAsync(Challenge(id));
        var (outcome, _) = await _challenges.ConsumeAsync(id, "partner-1", "cred-1", _digest, _otpMac, DateTimeOffset.UtcNow);
        if (outcome != ConsumeOutcome.ConsumedWithCode)
        {
            throw new InvalidOperationException("setup: the challenge was not consumed but " + outcome);
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _connection.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Benchmark(Baseline = true, Description = "PING round trip")]
    public Task Ping() => _connection.GetDatabase().PingAsync();

    [Benchmark(Description = "create challenge (rate counter + HSET in one script)")]
    public Task Create() => CreateAsync(Challenge(NewId()));

    [Benchmark(Description = "create + consume, per challenge")]
    public Task StoreAndConsume() => StoreAndConsumeOneAsync();

    [Benchmark(OperationsPerInvoke = InFlight, Description = "PING, 16 in flight")]
    public Task PingInFlight() => Concurrently(() => _connection.GetDatabase().PingAsync());

    [Benchmark(OperationsPerInvoke = InFlight, Description = "create + consume, 16 in flight")]
    public Task StoreAndConsumeInFlight() => Concurrently(StoreAndConsumeOneAsync);

    private async Task CreateAsync(Challenge challenge)
    {
        if (!await _challenges.CreateAsync(challenge, attempts: 3, perMinute: int.MaxValue))
        {
            throw new InvalidOperationException("the challenge was refused by the rate limit");
        }
    }

    private async Task StoreAndConsumeOneAsync()
    {
        var id = NewId();
        await CreateAsync(Challenge(id));
        var (outcome, _) = await _challenges.ConsumeAsync(id, "partner-1", "cred-1", _digest, _otpMac, DateTimeOffset.UtcNow);
        if (outcome != ConsumeOutcome.ConsumedWithCode)
        {
            throw new InvalidOperationException("not consumed: " + outcome);
        }
    }

    // Challenges stored by Store() are never consumed: a short lifetime keeps Redis from filling up during the run.
    private Challenge Challenge(string id) => new(id, "partner-1", "cred-1", _digest, 1, _otpMac, DateTimeOffset.UtcNow.AddSeconds(20));

    private string NewId() => "chal-bench-" + Interlocked.Increment(ref _next).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static Task Concurrently(Func<Task> operation)
    {
        var all = new Task[InFlight];
        for (var i = 0; i < all.Length; i++)
        {
            all[i] = operation();
        }

        return Task.WhenAll(all);
    }
}
