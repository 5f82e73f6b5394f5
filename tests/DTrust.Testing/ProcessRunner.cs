using System.Diagnostics;

namespace DTrust.Testing;

/// <summary>Runs helper programs (softhsm2-util, openssl, pkcs11-tool, redis-cli) for fixtures and oracles.</summary>
public static class ProcessRunner
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr)
    {
        public Result EnsureSuccess(string what) => ExitCode == 0
            ? this
            : throw new InvalidOperationException($"{what} exited {ExitCode}: {StdErr}{StdOut}");
    }

    public static async Task<Result> RunAsync(
        string fileName,
        IEnumerable<string> args,
        IDictionary<string, string>? env = null,
        byte[]? stdin = null,
        TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(RequireTool(fileName))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + fileName);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await p.StandardInput.BaseStream.WriteAsync(stdin);
            p.StandardInput.Close();
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish");
        }

        return new Result(p.ExitCode, await stdout, await stderr);
    }

    /// <summary>
    /// Resolves a tool on PATH (or an absolute path). A missing tool is a test failure, never a skip:
    /// <c>make test</c> installs every service, so absence means the environment is broken.
    /// </summary>
    public static string RequireTool(string name)
    {
        if (Path.IsPathRooted(name))
        {
            return File.Exists(name) ? name : throw new InvalidOperationException($"required tool {name} is missing");
        }

        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        foreach (var dir in new[] { "/usr/bin", "/usr/sbin", "/usr/local/bin" })
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException(
            $"required tool '{name}' is not installed; run 'make deps' (CI treats a missing service as a failure)");
    }
}
