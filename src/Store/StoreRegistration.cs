using Microsoft.Extensions.DependencyInjection.Extensions;

namespace DTrust.Store;

public static class StoreRegistration
{
    /// <summary>
    /// Registers one store engine (chosen by <see cref="StoreOptions.Engine"/>) as a singleton behind
    /// <see cref="ICredentialStore"/>, <see cref="ICallerStore"/>, <see cref="IAuditLog"/> and <see cref="IUsageReport"/>.
    /// The host then calls <see cref="MigrateStoreAsync"/> once before serving; the container disposes the engine
    /// (draining pending audit appends) at shutdown.
    /// </summary>
    public static IServiceCollection AddStore(this IServiceCollection services, StoreOptions options, string stateDirectory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        services.TryAddSingleton<StoreEngine>(sp => Create(options, stateDirectory, sp.GetRequiredService<ILoggerFactory>()));
        services.TryAddSingleton<ICredentialStore>(sp => sp.GetRequiredService<StoreEngine>());
        services.TryAddSingleton<ICallerStore>(sp => sp.GetRequiredService<StoreEngine>());
        services.TryAddSingleton<IOrganisationStore>(sp => sp.GetRequiredService<StoreEngine>());
        services.TryAddSingleton<IPasskeyStore>(sp => sp.GetRequiredService<StoreEngine>());
        services.TryAddSingleton<IAuditLog>(sp => sp.GetRequiredService<StoreEngine>());
        services.TryAddSingleton<IUsageReport>(sp => sp.GetRequiredService<StoreEngine>());
        services.TryAddSingleton<ICodeFailureLog>(sp => sp.GetRequiredService<StoreEngine>());
        services.TryAddSingleton<ICrlStore>(sp => sp.GetRequiredService<StoreEngine>());
        services.TryAddSingleton<IRevocationSource>(sp => sp.GetRequiredService<StoreEngine>());
        return services;
    }

    /// <summary>Applies pending schema migrations; safe to run on several nodes at once.</summary>
    public static Task MigrateStoreAsync(this IServiceProvider services, CancellationToken ct) =>
        services.GetRequiredService<StoreEngine>().MigrateAsync(ct);

    /// <summary>The SQLite database file: configured, or <c>{state}/dtrust.db</c>.</summary>
    public static string SqlitePath(StoreOptions options, string stateDirectory) =>
        string.IsNullOrEmpty(options.ConnectionString) ? Path.Combine(stateDirectory, "dtrust.db") : options.ConnectionString;

    /// <summary>
    /// A new store file is made 0600 before SQLite opens it: SQLite would make it by the umask (often world
    /// readable), and gives its -wal and -shm files the database file's mode.
    /// </summary>
    private static void CreatePrivate(string path)
    {
        if (OperatingSystem.IsWindows() || File.Exists(path))
        {
            return;
        }

        try
        {
            using var _ = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
        }
        catch (IOException) when (File.Exists(path))
        {
            // Another node or process made it first.
        }
    }

    /// <summary>Builds the configured engine (also for tools and tests that run without a container).</summary>
    public static StoreEngine Create(StoreOptions options, string stateDirectory, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        var log = loggers.CreateLogger<StoreEngine>();
        switch (options.Engine.ToUpperInvariant())
        {
            case "SQLITE":
                var path = SqlitePath(options, stateDirectory);
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                CreatePrivate(path);
                return new SqliteStore(path, options.AuditBatchSize, log);
            case "POSTGRES":
                if (string.IsNullOrEmpty(options.ConnectionString))
                {
                    throw new InvalidOperationException("DTrust:Store:ConnectionString is required for the postgres engine");
                }

                return new PostgresStore(options.ConnectionString, options.AuditBatchSize, log);
            default:
                throw new InvalidOperationException($"unknown store engine '{options.Engine}' (sqlite or postgres)");
        }
    }
}
