using System.Globalization;
using DTrust.SigningServer.Hosting;
using StackExchange.Redis;

namespace DTrust.SigningServer.Signing;

/// <summary>
/// Redis replicates asynchronously: a master that dies a moment after a write can come back through Sentinel as a
/// promoted replica that never saw it. For the writes that decide who may sign (a challenge spent, an approval's grant
/// spent, a challenge created and promised to the partner) that would bring a spent challenge back to life or lose
/// one that was acknowledged. With <see cref="RedisOptions.ReplicasToAcknowledge"/> set, each such write is followed
/// by <c>WAIT n timeout</c> on the master that took it, and a write fewer replicas confirmed fails closed
/// (UNAVAILABLE, nothing signed). Off (0) for a Redis without replicas.
/// </summary>
public sealed class RedisReplication(IConnectionMultiplexer redis, ServerOptions options)
{
    public bool Enabled => options.Redis.ReplicasToAcknowledge > 0;

    /// <summary>
    /// Waits until the configured replicas have every write this connection sent to the master holding
    /// <paramref name="key"/>; throws UNAVAILABLE naming <paramref name="what"/> when they do not within the timeout.
    /// </summary>
    public async Task RequireReplicatedAsync(RedisKey key, string what)
    {
        if (!Enabled)
        {
            return;
        }

        var db = redis.GetDatabase();
        var endpoint = await db.IdentifyEndpointAsync(key)
            ?? throw new DTrustException(ErrorKind.Unavailable, $"no Redis master for {what}; retry");

        // WAIT on the same connection as the write: it counts the replicas that acknowledged everything sent so far.
        var acknowledged = (long)await redis.GetServer(endpoint).ExecuteAsync(
            "WAIT",
            options.Redis.ReplicasToAcknowledge.ToString(CultureInfo.InvariantCulture),
            options.Redis.ReplicationTimeoutMilliseconds.ToString(CultureInfo.InvariantCulture));
        if (acknowledged < options.Redis.ReplicasToAcknowledge)
        {
            throw new DTrustException(
                ErrorKind.Unavailable,
                $"Redis did not confirm {what} on {options.Redis.ReplicasToAcknowledge} replica(s) within {options.Redis.ReplicationTimeoutMilliseconds} ms; nothing was signed, retry");
        }
    }
}
