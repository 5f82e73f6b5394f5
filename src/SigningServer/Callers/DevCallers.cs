using DTrust.Store;

namespace DTrust.SigningServer.Callers;

/// <summary>
/// Development only: a dev operator and a dev partner of tenant <c>dev</c>, their API keys in
/// <c>{state}/keys/operator.key</c> and <c>partner.key</c> (0600), which the CLI reads by default. Idempotent: a key
/// file whose caller is registered is kept.
/// </summary>
internal static class DevCallers
{
    public const string Tenant = "dev";

    public static async Task EnsureAsync(ICallerStore store, string stateDirectory, TimeProvider time, CancellationToken ct)
    {
        var dir = Path.Combine(stateDirectory, "keys");
        Directory.CreateDirectory(dir);
        await EnsureAsync(store, Path.Combine(dir, "operator.key"), "dev-operator", CallerRole.Operator, time, ct);
        await EnsureAsync(store, Path.Combine(dir, "partner.key"), "dev-partner", CallerRole.Partner, time, ct);
    }

    private static async Task EnsureAsync(
        ICallerStore store, string path, string name, CallerRole role, TimeProvider time, CancellationToken ct)
    {
        if (File.Exists(path))
        {
            var existing = await store.FindCallerAsync(ApiKeys.Hash(File.ReadAllText(path).Trim()), ct);
            if (existing is { RevokedAt: null })
            {
                return;
            }
        }

        var key = ApiKeys.Generate();
        var caller = new CallerRecord
        {
            Id = ApiKeys.NewId("caller"),
            Tenant = Tenant,
            Name = name,
            Role = role,
            CredentialHash = ApiKeys.Hash(key),
            CreatedAt = time.GetUtcNow(),
        };
        if (!await store.InsertCallerAsync(caller, ct))
        {
            throw new InvalidOperationException($"cannot register the development caller {name}");
        }

        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("the development set-up writes 0600 key files");
        }

        await using var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        await file.WriteAsync(System.Text.Encoding.ASCII.GetBytes(key + "\n"), ct);
    }
}
