namespace DTrust.Testing;

/// <summary>
/// The npm packages of the node gRPC peer (@grpc/grpc-js, @grpc/proto-loader), installed once from the committed
/// lock file into tests/peers/node/node_modules. Several test processes may ask at once, so a lock file guards npm.
/// A missing npm or registry fails the test; it never skips.
/// </summary>
public static class NodePeers
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static string Directory => Path.Combine(RepoPaths.Root, "tests", "peers", "node");

    public static string NodeModules => Path.Combine(Directory, "node_modules");

    public static async Task EnsureInstalledAsync()
    {
        await Gate.WaitAsync();
        try
        {
            using var crossProcess = await AcquireFileLockAsync(Path.Combine(Directory, ".npm.lock"));
            if (Installed())
            {
                return;
            }

            var result = await ProcessRunner.RunAsync(
                ProcessRunner.RequireTool("npm"),
                ["ci", "--no-audit", "--no-fund", "--prefix", Directory],
                timeout: TimeSpan.FromMinutes(5));
            result.EnsureSuccess("npm ci for the node gRPC peer");
        }
        finally
        {
            Gate.Release();
        }
    }

    private static bool Installed() =>
        File.Exists(Path.Combine(NodeModules, "@grpc", "grpc-js", "package.json"))
        && File.Exists(Path.Combine(NodeModules, "@grpc", "proto-loader", "package.json"));

    private static async Task<FileStream> AcquireFileLockAsync(string path)
    {
        var deadline = DateTime.UtcNow.AddMinutes(6);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }
}
