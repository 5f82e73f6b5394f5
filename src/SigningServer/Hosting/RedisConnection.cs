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

        return ConnectionMultiplexer.Connect(redis);
    }
}
