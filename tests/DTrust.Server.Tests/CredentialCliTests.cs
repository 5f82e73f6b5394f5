using System.Globalization;
using System.Text.RegularExpressions;
using DTrust.Testing;
using static DTrust.Server.Tests.Tools;

namespace DTrust.Server.Tests;

/// <summary>The operator's path through the dtrust CLI: holder, identification, a qualified credential, its list.</summary>
[Collection(ServerGroup.Name)]
public sealed partial class CredentialCliTests(ServerFixture fixture)
{
    [Fact]
    public async Task Cli_sets_up_a_holder_and_enrols_and_activates_a_qualified_credential()
    {
        var server = fixture.Server;
        var key = Path.Combine(server.StateDir, "keys", "operator.key");
        var user = "cli-" + Guid.NewGuid().ToString("N")[..10];

        var phone = CredentialLifecycleTests.NewPhone();
        var holder = await Run("holder", "set", user, "--given-name", "Erika", "--surname", "Mustermann", "--country", "DE", "--phone", phone);
        Assert.Contains($"holder         {user}: Erika Mustermann, DE, {phone}", holder, StringComparison.Ordinal);
        var until = DateTimeOffset.UtcNow.AddYears(2).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var identified = await Run("holder", "identify", user, "--method", "VIDEO_IDENT", "--valid-until", until);
        Assert.Contains($"identification VIDEO_IDENT until {until}", identified, StringComparison.Ordinal);

        var enrolled = await Run("credential", "enrol", user, "--level", "qualified");
        var id = CredentialLine().Match(enrolled).Groups[1].Value;
        Assert.True(id.Length > 0, enrolled);

        // The operator never sees the transport PIN: it went to the holder's phone (here the outbox).
        var transport = await ServerProcess.OutboxCodeAsync(server.StateDir, "transport-pin:" + id);
        Assert.Contains("transport PIN  sent to the holder's phone on record", enrolled, StringComparison.Ordinal);
        Assert.DoesNotContain(transport, enrolled, StringComparison.Ordinal);
        Assert.Contains("status         NOT_ACTIVATED", enrolled, StringComparison.Ordinal);
        Assert.Contains("level          QUALIFIED", enrolled, StringComparison.Ordinal);

        var activated = await Run("credential", "activate", id, "--transport-pin-from-outbox", "--pin", "12345678");
        Assert.Contains($"credential     {id}", activated, StringComparison.Ordinal);
        Assert.Contains("status         VALID", activated, StringComparison.Ordinal);

        var list = await Run("credential", "list", "--user", user);
        var line = Assert.Single(list.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Matches($"^{Regex.Escape(id)}  VALID +QUALIFIED +EC_P256 +{Regex.Escape(user)}$", line.TrimEnd());

        Assert.StartsWith("month    level          signatures", await Run("usage"), StringComparison.Ordinal);

        async Task<string> Run(params string[] args)
        {
            var r = await DtrustAsync(server, key, args);
            Assert.True(r.ExitCode == 0, $"dtrust {string.Join(' ', args)} exited {r.ExitCode}: {r.StdErr}{r.StdOut}");
            return r.StdOut;
        }
    }

    [Fact]
    public async Task Mistakes_get_one_line_and_a_mistyped_code_is_asked_again_while_attempts_are_left()
    {
        var server = fixture.Server;
        var key = Path.Combine(server.StateDir, "keys", "operator.key");
        var dir = Directory.CreateTempSubdirectory("dtrust-cli-");
        try
        {
            await MistakesAndRetryAsync(server, key, dir.FullName);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task MistakesAndRetryAsync(ServerProcess server, string key, string dirPath)
    {

        // A file that is not there, an unknown option, a mistyped command: one line naming it, no stack trace.
        foreach (var (args, expected) in new (string[], string)[]
        {
            (["sign", Path.Combine(dirPath, "missing.pdf"), "--credential", "cred_x"], Path.Combine(dirPath, "missing.pdf") + ": no such file"),
            (["verify", Path.Combine(dirPath, "a.txt"), Path.Combine(dirPath, "a.txt.p7s")], Path.Combine(dirPath, "a.txt") + ": no such file"),
            (["sign", "a.txt", "--credentials", "cred_x"], "Unrecognized option '--credentials'"),
            (["credential", "lst"], "Unrecognized command or argument 'lst'"),
        })
        {
            var r = await DtrustAsync(server, key, args);
            Assert.True(r.ExitCode == 1, $"{string.Join(' ', args)}: {r.ExitCode} {r.StdErr}");
            Assert.Contains("error: " + expected, r.StdErr, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", r.StdErr, StringComparison.Ordinal);
            Assert.DoesNotContain("Description:", r.StdErr + r.StdOut, StringComparison.Ordinal);
        }

        // Explicit mode with the code typed at the prompt: a wrong one is answered with the attempts left and
        // asked again, and the right one signs under the same challenge.
        using var op = DTrustClientFor(server, "operator");
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Signing.V1.Level.Advanced);
        var file = Path.Combine(dirPath, "a.txt");
        await File.WriteAllTextAsync(file, "loan agreement 46\n");
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { CliDll, "sign", file, "--credential", credential.CredentialId, "--approval", "explicit", "--pin", SigningFlowTests.Pin,
            "--server", server.GrpcAddress.ToString(), "--api-key-file", Path.Combine(server.StateDir, "keys", "partner.key") })
        {
            psi.ArgumentList.Add(a);
        }

        using var cli = System.Diagnostics.Process.Start(psi)!;
        var stderr = new System.Text.StringBuilder();
        cli.ErrorDataReceived += (_, e) => { lock (stderr) { stderr.AppendLine(e.Data); } };
        cli.BeginErrorReadLine();
        var stdout = cli.StandardOutput.ReadToEndAsync();
        // The prompt has no line end; the challenge is found in the outbox, by the credential.
        var outbox = Path.Combine(server.StateDir, "otp-outbox.jsonl");
        var code = await WaitForAsync(() => File.ReadAllLines(outbox).Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Where(m => m.GetProperty("credential_id").GetString() == credential.CredentialId
                && m.GetProperty("challenge_id").GetString()!.StartsWith("chal_", StringComparison.Ordinal))
            .Select(m => m.GetProperty("otp").GetString()).LastOrDefault());
        await cli.StandardInput.WriteLineAsync(code == "000000" ? "111111" : "000000");
        await WaitForAsync(() => { lock (stderr) { return stderr.ToString().Contains("attempt(s) left", StringComparison.Ordinal) ? "" : null; } });
        await cli.StandardInput.WriteLineAsync(code);
        await cli.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(cli.ExitCode == 0, stderr.ToString() + await stdout);
        Assert.Contains("wrong one-time code; 2 attempt(s) left", stderr.ToString(), StringComparison.Ordinal);
        Assert.Contains("signed   a.txt -> a.txt.p7s", await stdout, StringComparison.Ordinal);
    }

    private static DTrust.Client.DTrustClient DTrustClientFor(ServerProcess server, string role) =>
        DTrust.Client.DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey(role));

    private static async Task<string> WaitForAsync(Func<string?> probe)
    {
        for (var i = 0; i < 600; i++)
        {
            if (probe() is { } found)
            {
                return found;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException("the CLI never got there");
    }

    [GeneratedRegex(@"^credential +(\S+)$", RegexOptions.Multiline)]
    private static partial Regex CredentialLine();
}
