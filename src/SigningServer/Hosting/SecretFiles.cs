using DTrust.SigningServer.Signing;
using DTrust.Store;

namespace DTrust.SigningServer.Hosting;

/// <summary>
/// Files that hold secrets (token PINs, the Redis password, the one-time code secret, the SMS gateway's
/// authorization, API keys, the SQLite store with its key blobs and audit log) must be the server user's alone. A
/// group- or world-readable one is refused at start-up: another local account could read it, and starting anyway
/// would hide that.
/// </summary>
internal static class SecretFiles
{
    private const UnixFileMode GroupOrOther =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Throws for the first secret file that exists and is open to group or others.</summary>
    public static void RequirePrivate(ServerOptions server, StoreOptions store, SigningOptions signing)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        foreach (var (path, what) in Secrets(server, store, signing))
        {
            if (File.Exists(path) && (File.GetUnixFileMode(path) & GroupOrOther) != 0)
            {
                throw new InvalidOperationException(
                    $"the {what} file '{path}' is readable or writable by group or others; restrict it (chmod 600) and start again");
            }
        }
    }

    private static IEnumerable<(string Path, string What)> Secrets(ServerOptions server, StoreOptions store, SigningOptions signing)
    {
        var state = server.StateDirectory;
        foreach (var name in server.Development ? [.. VaultFactory.DomainNames, VaultFactory.RootDomain] : VaultFactory.DomainNames)
        {
            yield return (VaultFactory.PinFile(server, name), $"'{name}' token PIN");
        }

        yield return (server.Redis.PasswordFile ?? Path.Combine(state, "redis", "password"), "Redis password");
        yield return (signing.OtpSecretFile ?? Path.Combine(state, "keys", "otp-hmac.key"), "one-time code secret");
        if (!string.IsNullOrEmpty(signing.Webhook.AuthorizationFile))
        {
            yield return (signing.Webhook.AuthorizationFile, "SMS gateway authorization");
        }

        // The dev outbox carries one-time codes and transport PINs in clear.
        yield return (Path.Combine(state, "otp-outbox.jsonl"), "one-time code outbox");
        var keys = Path.Combine(state, "keys");
        if (Directory.Exists(keys))
        {
            foreach (var key in Directory.EnumerateFiles(keys, "*.key"))
            {
                yield return (key, "API key");
            }
        }

        if (store.Engine.Equals(StoreOptions.Sqlite, StringComparison.OrdinalIgnoreCase))
        {
            var db = StoreRegistration.SqlitePath(store, state);
            foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
            {
                yield return (db + suffix, "SQLite store");
            }
        }
    }
}
