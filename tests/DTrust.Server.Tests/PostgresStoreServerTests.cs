using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using static DTrust.Server.Tests.Tools;

namespace DTrust.Server.Tests;

/// <summary>The real server on PostgreSQL (DTrust__Store__Engine=postgres), a fresh database of its own.</summary>
public sealed class PostgresStoreServerTests
{
    [Fact]
    public async Task A_credential_lives_and_is_revoked_on_a_server_backed_by_postgres()
    {
        await using var postgres = await PostgresServer.StartAsync();
        var connection = await postgres.CreateDatabaseAsync();
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["DTrust__Store__Engine"] = "postgres",
            ["DTrust__Store__ConnectionString"] = connection,
        });
        Assert.False(File.Exists(server.SqlitePath), "the server made a SQLite store although told to use PostgreSQL");

        using var client = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("operator"));
        var user = await CredentialLifecycleTests.NewHolderAsync(client);
        var (credential, transport) = await CredentialLifecycleTests.EnrolAsync(client, user, Level.Qualified);
        Assert.Equal(CredentialStatus.Valid, (await ActivateAsync(client, credential.CredentialId, transport)).Status);
        var revoking = await client.Credentials.RevokeCredentialAsync(
            new RevokeCredentialRequest { CredentialId = credential.CredentialId, Reason = RevocationReason.Superseded });
        Assert.Equal(CredentialStatus.RevocationInProgress, revoking.Status);
        Assert.Equal(CredentialStatus.Revoked, await PollStatusAsync(client, credential.CredentialId, CredentialStatus.Revoked));
        Assert.True((await client.Credentials.VerifyAuditLogAsync(new VerifyAuditLogRequest())).Intact);
    }
}
