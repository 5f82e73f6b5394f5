using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Microsoft.Data.Sqlite;
using static DTrust.Server.Tests.Tools;

namespace DTrust.Server.Tests;

/// <summary>
/// A server of its own, killed and started again on the same state directory: what it acknowledged is on disk,
/// and what was changed on disk behind its back is found.
/// </summary>
public sealed class CredentialRestartTests : IDisposable
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), "dtrust-restart-" + Guid.NewGuid().ToString("N")[..12]);

    public void Dispose()
    {
        if (Directory.Exists(_state))
        {
            Directory.Delete(_state, recursive: true);
        }
    }

    [Fact]
    public async Task An_enrolment_survives_kill_9_right_after_the_rpc_returned()
    {
        Credential enrolled;
        string transport;
        var first = await ServerProcess.StartAsync(stateDir: _state);
        try
        {
            using var client = DTrustClient.Connect(first.GrpcAddress, apiKey: first.ApiKey("operator"));
            var user = await CredentialLifecycleTests.NewHolderAsync(client);
            (enrolled, transport) = await CredentialLifecycleTests.EnrolAsync(client, user, Level.Qualified);
        }
        finally
        {
            // SIGKILL (Process.Kill): no shutdown hook, no flush; only what was committed before the reply counts.
            await first.DisposeAsync();
        }

        await using var second = await ServerProcess.StartAsync(stateDir: _state);
        using var again = DTrustClient.Connect(second.GrpcAddress, apiKey: second.ApiKey("operator"));
        var found = await again.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = enrolled.CredentialId });
        Assert.Equal(CredentialStatus.NotActivated, found.Status);
        Assert.Equal(enrolled.Certificate, found.Certificate);
        var active = await ActivateAsync(again, enrolled.CredentialId, transport);
        Assert.Equal(CredentialStatus.Valid, active.Status);
    }

    [Fact]
    public async Task Cli_audit_verify_is_intact_then_names_the_entry_changed_in_the_database()
    {
        var keyFile = Path.Combine(_state, "keys", "operator.key");
        var first = await ServerProcess.StartAsync(stateDir: _state);
        try
        {
            using var client = DTrustClient.Connect(first.GrpcAddress, apiKey: first.ApiKey("operator"));
            var user = await CredentialLifecycleTests.NewHolderAsync(client);
            var (credential, transport) = await CredentialLifecycleTests.EnrolAsync(client, user, Level.Advanced);
            await CredentialLifecycleTests.AssertRefused(Grpc.Core.StatusCode.FailedPrecondition, client.Credentials.ActivateCredentialAsync(
                new ActivateCredentialRequest { CredentialId = credential.CredentialId, TransportPin = "0000000000", ActivationPin = "123456" }));
            await ActivateAsync(client, credential.CredentialId, transport);
            await client.Credentials.RevokeCredentialAsync(new RevokeCredentialRequest { CredentialId = credential.CredentialId });
            Assert.Equal(CredentialStatus.Revoked, await PollStatusAsync(client, credential.CredentialId, CredentialStatus.Revoked));

            var intact = await DtrustAsync(first, keyFile, "audit", "verify");
            Assert.True(intact.ExitCode == 0, intact.StdOut + intact.StdErr);
            Assert.StartsWith("audit chain intact: ", intact.StdOut, StringComparison.Ordinal);
        }
        finally
        {
            await first.DisposeAsync();
        }

        // Behind the server's back: one entry in the middle of the chain now says something else happened.
        long tampered;
        using (var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_state, "dtrust.db"), Pooling = false }.ToString()))
        {
            db.Open();
            using var seqs = db.CreateCommand();
            seqs.CommandText = "SELECT seq FROM audit_log ORDER BY seq";
            var all = new List<long>();
            using (var r = seqs.ExecuteReader())
            {
                while (r.Read())
                {
                    all.Add(r.GetInt64(0));
                }
            }

            Assert.True(all.Count >= 5, $"only {all.Count} audit entries");
            tampered = all[all.Count / 2];
            using var update = db.CreateCommand();
            update.CommandText = "UPDATE audit_log SET outcome = 'ok, nothing to see' WHERE seq = $seq";
            update.Parameters.AddWithValue("$seq", tampered);
            Assert.Equal(1, update.ExecuteNonQuery());
        }

        await using var second = await ServerProcess.StartAsync(stateDir: _state);
        var broken = await DtrustAsync(second, keyFile, "audit", "verify");
        Assert.True(broken.ExitCode == 1, $"exit {broken.ExitCode}: {broken.StdOut}{broken.StdErr}");
        Assert.Contains($"audit chain BROKEN: entry {tampered} was changed", broken.StdOut, StringComparison.Ordinal);
    }
}
