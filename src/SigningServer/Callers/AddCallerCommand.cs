using DTrust.Store;

namespace DTrust.SigningServer.Callers;

/// <summary>
/// <c>DTrust.SigningServer add-caller --tenant T --role operator|partner --name N --key-file PATH</c>: registers a
/// caller with the host's own configuration and store, and writes its API key to a new 0600 file. This is how an
/// operator sets up the first caller of a tenant; every further caller can then be made through CredentialService.
/// </summary>
internal static class AddCallerCommand
{
    public const string Name = "add-caller";

    public static async Task<int> RunAsync(string[] args, ICallerStore store, TimeProvider time)
    {
        string? Arg(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        var (tenant, role, name, keyFile) = (Arg("--tenant"), Arg("--role"), Arg("--name"), Arg("--key-file"));
        if (string.IsNullOrWhiteSpace(tenant) || string.IsNullOrWhiteSpace(name) || string.IsNullOrWhiteSpace(keyFile)
            || role is not ("operator" or "partner"))
        {
            await Console.Error.WriteLineAsync("usage: add-caller --tenant T --role operator|partner --name N --key-file PATH");
            return 2;
        }

        if (File.Exists(keyFile))
        {
            await Console.Error.WriteLineAsync($"{keyFile} exists; refusing to overwrite a key");
            return 2;
        }

        var key = ApiKeys.Generate();
        var caller = new CallerRecord
        {
            Id = ApiKeys.NewId("caller"),
            Tenant = tenant,
            Name = name,
            Role = role == "operator" ? CallerRole.Operator : CallerRole.Partner,
            CredentialHash = ApiKeys.Hash(key),
            CreatedAt = time.GetUtcNow(),
        };
        if (!await store.InsertCallerAsync(caller, CancellationToken.None))
        {
            await Console.Error.WriteLineAsync("could not register the caller");
            return 1;
        }

        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("key files are written 0600");
        }

        await using (var file = new FileStream(keyFile, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            await file.WriteAsync(System.Text.Encoding.ASCII.GetBytes(key + "\n"));
        }

        Console.WriteLine($"{caller.Id} ({role} of tenant {tenant}); API key written to {keyFile}");
        return 0;
    }
}
