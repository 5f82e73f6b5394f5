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

        Assert.StartsWith("month    level      signatures", await Run("usage"), StringComparison.Ordinal);

        async Task<string> Run(params string[] args)
        {
            var r = await DtrustAsync(server, key, args);
            Assert.True(r.ExitCode == 0, $"dtrust {string.Join(' ', args)} exited {r.ExitCode}: {r.StdErr}{r.StdOut}");
            return r.StdOut;
        }
    }

    [GeneratedRegex(@"^credential +(\S+)$", RegexOptions.Multiline)]
    private static partial Regex CredentialLine();
}
