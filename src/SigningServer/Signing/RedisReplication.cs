using System.Globalization;
using DTrust.SigningServer.Hosting;
using StackExchange.Redis;

namespace DTrust.SigningServer.Signing;

/// <summary>
/// Redis replicates asynchronously: a master that dies a moment after a write can come back through Sentinel as a
/// promoted replica that never saw it. For the writes that decide who may sign (a challenge spent, an approval's grant
/// spent or voided, a challenge created and promised to the partner) that would bring a spent challenge back to life
/// or lose one that was acknowledged. With <see cref="RedisOptions.ReplicasToAcknowledge"/> set, each such write runs
/// on a connection of its own, followed by <c>WAIT n timeout</c> on that same connection (WAIT counts the replicas that
/// have everything the connection wrote), one write at a time so that a slow replica blocks only these writes, never
/// the node's other Redis traffic; a write fewer replicas confirmed fails closed (UNAVAILABLE, nothing signed). Off
/// (0) for a Redis without replicas; for one master (Sentinel, or a master with replicas), not for a Cluster.
/// </summary>
public sealed class RedisReplication : IDisposable
{
    private readonly IConnectionMultiplexer _shared;
    private readonly ServerOptions _options;
    private readonly Lazy<ConnectionMultiplexer> _dedicated;
    private readonly SemaphoreSlim _gate = new(1, 1);

    public RedisReplication(IConnectionMultiplexer redis, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Redis.ReplicasToAcknowledge > 0 && options.Redis.ReplicationTimeoutMilliseconds < 1)
        {
            // WAIT with 0 waits for ever: a replica gone would hang every decisive write.
            throw new InvalidOperationException("DTrust:Redis:ReplicationTimeoutMilliseconds must be at least 1");
        }

        _shared = redis;
        _options = options;
        _dedicated = new Lazy<ConnectionMultiplexer>(() => RedisConnection.Connect(options));
    }

    public bool Enabled => _options.Redis.ReplicasToAcknowledge > 0;

    /// <summary>
    /// Runs <paramref name="write"/>; when replication is on and <paramref name="decisive"/> says the result changed
    /// who may sign, waits for the replicas and throws UNAVAILABLE naming <paramref name="what"/> if they did not
    /// confirm, after <paramref name="undo"/> (best effort) where a write must not stay half-confirmed.
    /// </summary>
    public async Task<T> WriteAsync<T>(
        Func<IDatabase, Task<T>> write, Func<T, bool> decisive, string what, Func<IDatabase, Task>? undo = null)
    {
        ArgumentNullException.ThrowIfNull(write);
        ArgumentNullException.ThrowIfNull(decisive);
        if (!Enabled)
        {
            return await write(_shared.GetDatabase());
        }

        await _gate.WaitAsync();
        try
        {
            var connection = _dedicated.Value;
            var db = connection.GetDatabase();
            var result = await write(db);
            if (decisive(result) && !await ReplicatedAsync(connection))
            {
                if (undo is not null)
                {
                    try
                    {
                        await undo(db);
                    }
                    catch (RedisException)
                    {
                        // The write expires by itself; it was never promised to anyone.
                    }
                }

                throw new DTrustException(
                    ErrorKind.Unavailable,
                    $"Redis did not confirm {what} on {_options.Redis.ReplicasToAcknowledge} replica(s) within {_options.Redis.ReplicationTimeoutMilliseconds} ms; nothing was signed, retry");
            }

            return result;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<bool> ReplicatedAsync(ConnectionMultiplexer connection)
    {
        var masters = connection.GetServers().Where(s => s.IsConnected && !s.IsReplica).ToList();
        if (masters.Count != 1)
        {
            return false;
        }

        try
        {
            var acknowledged = (long)await masters[0].ExecuteAsync(
                "WAIT",
                [_options.Redis.ReplicasToAcknowledge.ToString(CultureInfo.InvariantCulture),
                 _options.Redis.ReplicationTimeoutMilliseconds.ToString(CultureInfo.InvariantCulture)],
                CommandFlags.NoRedirect);
            return acknowledged >= _options.Redis.ReplicasToAcknowledge;
        }
        catch (RedisException)
        {
            return false;
        }
    }

    public void Dispose()
    {
        if (_dedicated.IsValueCreated)
        {
            _dedicated.Value.Dispose();
        }

        _gate.Dispose();
    }
}
