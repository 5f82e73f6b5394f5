using DTrust.Testing;

namespace DTrust.Pki.Tests;

/// <summary>openssl as an independent oracle. A missing openssl fails the test (RequireTool), never skips it.</summary>
internal static class OpenSsl
{
    public static async Task<string> RunAsync(params string[] args)
    {
        var result = await ProcessRunner.RunAsync("openssl", args);
        result.EnsureSuccess("openssl " + string.Join(' ', args));
        return result.StdOut + result.StdErr;
    }

    public static Task<ProcessRunner.Result> TryRunAsync(params string[] args) => ProcessRunner.RunAsync("openssl", args);
}
