using System.Text.RegularExpressions;
using DTrust.Testing;
using static DTrust.Server.Tests.Tools;

namespace DTrust.Server.Tests;

/// <summary>
/// The README's seal walk-through with the dtrust CLI: an organisation, a partner caller for its invoicing system,
/// a qualified seal bound to it, and 150 files sealed in two batches with progress; openssl cms verifies them.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed partial class SealCliTests(ServerFixture fixture)
{
    [Fact]
    public async Task Cli_sets_up_an_organisation_enrols_a_seal_and_seals_150_files_with_progress()
    {
        var server = fixture.Server;
        var operatorKey = Path.Combine(server.StateDir, "keys", "operator.key");
        var org = "org-" + Guid.NewGuid().ToString("N")[..8];
        var dir = Directory.CreateTempSubdirectory("dtrust-seal-cli-");
        try
        {
            var organisation = await Run(operatorKey, "organisation", "set", org, "--name", "Stadtwerke Musterstadt GmbH", "--country", "DE",
                "--identifier", "NTRDE-HRB99887", "--representative", "Erika Mustermann (Geschäftsführerin)",
                "--evidence", "commercial register extract of 2026-11-30", "--phone", CredentialLifecycleTests.NewPhone());
            Assert.Contains($"organisation   {org}: Stadtwerke Musterstadt GmbH, DE, NTRDE-HRB99887", organisation, StringComparison.Ordinal);

            var caller = await Run(operatorKey, "caller", "create", "invoicing", "--role", "partner");
            var callerId = CallerLine().Match(caller).Groups[1].Value;
            var partnerKey = Path.Combine(dir.FullName, "invoicing.key");
            await File.WriteAllTextAsync(partnerKey, ApiKeyLine().Match(caller).Groups[1].Value);

            // Without the representative's code the seal waits (one line, non-zero exit); the development outbox
            // stands in for the representative's phone.
            var waiting = await DtrustAsync(server, operatorKey, "seal", "enrol", org, "--level", "qualified", "--caller", callerId);
            Assert.Equal(2, waiting.ExitCode);
            Assert.StartsWith("FailedPrecondition: a new seal needs the representative's confirmation", waiting.StdErr, StringComparison.Ordinal);
            var enrolled = await Run(operatorKey, "seal", "enrol", org, "--level", "qualified", "--caller", callerId, "--code-from-outbox");
            var seal = CredentialLine().Match(enrolled).Groups[1].Value;
            Assert.Contains("status         VALID", enrolled, StringComparison.Ordinal);
            Assert.Contains("level          QUALIFIED_SEAL (EC_P256)", enrolled, StringComparison.Ordinal);
            Assert.Contains($"seal callers   {callerId}", enrolled, StringComparison.Ordinal);
            Assert.Matches(@"certificate +CN=Stadtwerke Musterstadt GmbH, .*NTRDE-HRB99887.*, C=DE", enrolled);

            var files = new List<string>();
            for (var i = 0; i < 150; i++)
            {
                files.Add(Path.Combine(dir.FullName, $"invoice-{i:D3}.txt"));
                await File.WriteAllTextAsync(files[^1], $"invoice {i} " + Guid.NewGuid());
            }

            var r = await DtrustAsync(server, partnerKey, ["sign", .. files, "--seal", seal, "--timestamp"]);
            Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
            Assert.Contains("progress [####################..........] 100/150", r.StdErr, StringComparison.Ordinal);
            Assert.Contains("progress [##############################] 150/150", r.StdErr, StringComparison.Ordinal);
            Assert.Matches(@"invoice-149\.txt +B-T +20\d\d-", r.StdOut);
            foreach (var file in new[] { files[0], files[149] })
            {
                var cms = await OpensslAsync("cms", "-verify", "-binary", "-content", file, "-inform", "DER", "-in", file + ".p7s",
                    "-CAfile", server.Pki("root.pem"), "-purpose", "any", "-out", "/dev/null");
                Assert.True(cms.ExitCode == 0, "openssl cms -verify: " + cms.StdErr);
            }

            Assert.Equal(150, files.Count(f => File.Exists(f + ".p7s")));
            Assert.Equal((2, 150), (AuditCount(server, seal, "signature.created"), AuditedSignatures(server, seal)));

            // The seal is no person's credential, and another caller cannot use it: one line each, non-zero exit.
            var asPerson = await DtrustAsync(server, partnerKey, "sign", files[0], "--credential", seal);
            Assert.Equal((1, $"error: {seal} is a seal; sign with --seal"), (asPerson.ExitCode, asPerson.StdErr.Trim()));
            var stranger = await DtrustAsync(server, Path.Combine(server.StateDir, "keys", "partner.key"), "sign", files[0], "--seal", seal);
            Assert.NotEqual(0, stranger.ExitCode);
            Assert.Contains("not found", stranger.StdErr, StringComparison.OrdinalIgnoreCase);
            var badLevel = await DtrustAsync(server, operatorKey, "seal", "enrol", org, "--level", "simple", "--caller", callerId);
            Assert.Equal(1, badLevel.ExitCode);
            Assert.Equal("error: 'simple' is not a seal level (qualified or advanced)", badLevel.StdErr.Trim());
        }
        finally
        {
            dir.Delete(recursive: true);
        }

        async Task<string> Run(string key, params string[] args)
        {
            var r = await DtrustAsync(server, key, args);
            Assert.True(r.ExitCode == 0, $"dtrust {string.Join(' ', args)} exited {r.ExitCode}: {r.StdErr}{r.StdOut}");
            return r.StdOut;
        }
    }

    [GeneratedRegex(@"credential\s+(\S+)")]
    private static partial Regex CredentialLine();

    [GeneratedRegex(@"caller\s+(\S+) \(PARTNER\)")]
    private static partial Regex CallerLine();

    [GeneratedRegex(@"api key\s+(\S+)")]
    private static partial Regex ApiKeyLine();
}
