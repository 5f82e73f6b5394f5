using System.Net;
using System.Text;
using StackExchange.Redis;

namespace DTrust.SigningServer.Hosting;

/// <summary>The shared Redis connection: authenticated from a password file, reconnecting by itself.</summary>
internal static class RedisConnection
{
    public static ConnectionMultiplexer Connect(ServerOptions options)
    {
        var redis = ConfigurationOptions.Parse(options.Redis.Configuration);

        // Redis being down must not stop the host from starting: what needs it fails closed and recovers on reconnect.
        redis.AbortOnConnectFail = false;
        var passwordFile = options.Redis.PasswordFile ?? Path.Combine(options.StateDirectory, "redis", "password");
        if (File.Exists(passwordFile))
        {
            redis.Password = Encoding.UTF8.GetString(File.ReadAllBytes(passwordFile)).TrimEnd('\r', '\n');
        }
        else if (options.Redis.PasswordFile is not null)
        {
            throw new InvalidOperationException($"the Redis password file '{passwordFile}' does not exist");
        }

        if (Problem(redis) is { } problem)
        {
            throw new InvalidOperationException(problem);
        }

        return ConnectionMultiplexer.Connect(redis);
    }

    /// <summary>
    /// Why this configuration must not be used, or null. Challenges and counters in Redis decide who may sign, so a
    /// Redis off this host is reached only over TLS and with a password: on the wire anyone in between could read
    /// or rewrite them, and an open Redis lets anyone who reaches it do so.
    /// </summary>
    internal static string? Problem(ConfigurationOptions redis)
    {
        var remote = redis.EndPoints.Where(e => !IsLoopback(e)).Select(EndPointText).ToList();
        if (remote.Count == 0)
        {
            return null;
        }

        var missing = (redis.Ssl ? "" : "TLS (ssl=true)") + (!redis.Ssl && string.IsNullOrEmpty(redis.Password) ? " and " : "")
            + (string.IsNullOrEmpty(redis.Password) ? "a password (DTrust:Redis:PasswordFile)" : "");
        return missing.Length == 0
            ? null
            : $"refusing the non-loopback Redis {string.Join(", ", remote)} without {missing}";
    }

    private static bool IsLoopback(EndPoint endpoint) => endpoint switch
    {
        IPEndPoint ip => IPAddress.IsLoopback(ip.Address),
        DnsEndPoint dns => string.Equals(dns.Host, "localhost", StringComparison.OrdinalIgnoreCase),
        _ => false,
    };

    private static string EndPointText(EndPoint endpoint) => endpoint switch
    {
        DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        _ => endpoint.ToString() ?? "?",
    };
}
