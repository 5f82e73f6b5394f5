using System.Text.Json;
using DTrust.Testing;

namespace DTrust.Cms.Tests;

/// <summary>
/// tests/peers/node/verify_cms.js: PKI.js, an independent CMS implementation. Its packages come from the committed
/// lock file by <c>npm ci</c>, under the same cross-process lock file as <see cref="NodePeers"/> (which only looks for
/// the gRPC packages, so a node_modules from before pkijs would not be refreshed by it). Missing node or npm fails.
/// </summary>
internal static class PkiJsPeer
{
    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static async Task<JsonElement> VerifyAsync(string p7s, string data, string? root = null, string? tsaCertificate = null,
        bool expectSuccess = true)
    {
        await EnsureInstalledAsync();
        var args = new List<string> { Path.Combine(NodePeers.Directory, "verify_cms.js"), "--cms", p7s, "--data", data };
        if (root is not null)
        {
            args.AddRange(["--root", root]);
        }

        if (tsaCertificate is not null)
        {
            args.AddRange(["--tsa-cert", tsaCertificate]);
        }

        var result = await ProcessRunner.RunAsync("node", args);
        Assert.True(result.ExitCode == (expectSuccess ? 0 : 1),
            $"verify_cms.js exited {result.ExitCode}: {result.StdOut}{result.StdErr}");
        var line = result.StdOut.Trim().Split('\n')[^1];
        return JsonDocument.Parse(line).RootElement.Clone();
    }

    private static async Task EnsureInstalledAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (Installed())
            {
                return;
            }

            var lockPath = Path.Combine(NodePeers.Directory, ".npm.lock");
            var deadline = DateTime.UtcNow.AddMinutes(6);
            FileStream? crossProcess = null;
            while (crossProcess is null)
            {
                try
                {
                    crossProcess = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1,
                        FileOptions.DeleteOnClose);
                }
                catch (IOException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(200);
                }
            }

            using (crossProcess)
            {
                if (!Installed())
                {
                    var result = await ProcessRunner.RunAsync(ProcessRunner.RequireTool("npm"),
                        ["ci", "--no-audit", "--no-fund", "--prefix", NodePeers.Directory], timeout: TimeSpan.FromMinutes(5));
                    result.EnsureSuccess("npm ci for the PKI.js CMS verifier");
                }
            }
        }
        finally
        {
            Gate.Release();
        }
    }

    private static bool Installed() =>
        File.Exists(Path.Combine(NodePeers.NodeModules, "pkijs", "package.json"))
        && File.Exists(Path.Combine(NodePeers.NodeModules, "asn1js", "package.json"));
}
