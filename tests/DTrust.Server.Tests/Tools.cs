using System.Globalization;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;

namespace DTrust.Server.Tests;

/// <summary>The dtrust CLI (the built client assembly) and openssl as the outside oracles of the credential tests.</summary>
internal static class Tools
{
    /// <summary>
    /// The CLI from its own build output (src/Client/bin/&lt;configuration&gt;/&lt;tfm&gt;), as a user runs it: this test
    /// project references ASP.NET Core, so its own folder lacks assemblies that the CLI's runtime needs.
    /// </summary>
    public static string CliDll
    {
        get
        {
            var here = new DirectoryInfo(Path.GetDirectoryName(typeof(DTrustClient).Assembly.Location)!);
            return Path.Combine(RepoPaths.Root, "src", "Client", "bin", here.Parent!.Name, here.Name, "dtrust.dll");
        }
    }

    /// <summary>Audit entries of one action (and optionally one outcome) for a credential, read from the server's SQLite file.</summary>
    public static int AuditCount(ServerProcess server, string credentialId, string action, string? outcome = null)
    {
        using var cmd = AuditQuery(server, "SELECT count(*) FROM audit_log WHERE credential_id = $id AND action_code = $action " +
            "AND ($outcome IS NULL OR outcome = $outcome)", credentialId, action);
        cmd.Parameters.AddWithValue("$outcome", (object?)outcome ?? DBNull.Value);
        return Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>Signatures the audit records for a credential: one per entry, or a seal batch entry's count.</summary>
    public static int AuditedSignatures(ServerProcess server, string credentialId)
    {
        using var cmd = AuditQuery(server, "SELECT coalesce(sum(coalesce(json_extract(details, '$.signatures'), 1)), 0) FROM audit_log " +
            "WHERE credential_id = $id AND action_code = $action AND outcome = 'ok'", credentialId, "signature.created");
        return Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>The details (JSON) of the latest audit entry of one action for a credential.</summary>
    public static System.Text.Json.JsonElement LatestAuditDetails(ServerProcess server, string credentialId, string action)
    {
        using var cmd = AuditQuery(server,
            "SELECT details FROM audit_log WHERE credential_id = $id AND action_code = $action ORDER BY seq DESC LIMIT 1", credentialId, action);
        using var doc = System.Text.Json.JsonDocument.Parse((string)cmd.ExecuteScalar()!);
        return doc.RootElement.Clone();
    }

    private static Microsoft.Data.Sqlite.SqliteCommand AuditQuery(ServerProcess server, string sql, string credentialId, string action)
    {
        var db = new Microsoft.Data.Sqlite.SqliteConnection(new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder
        {
            DataSource = server.SqlitePath,
            Mode = Microsoft.Data.Sqlite.SqliteOpenMode.ReadOnly,
            Pooling = false,
        }.ToString());
        db.Open();
        var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$id", credentialId);
        cmd.Parameters.AddWithValue("$action", action);
        cmd.Disposed += (_, _) => db.Dispose();
        return cmd;
    }

    /// <summary>Runs <c>dtrust ARGS --server S --api-key-file F</c> as the tenant's operator.</summary>
    public static Task<ProcessRunner.Result> DtrustAsync(ServerProcess server, string keyFile, params string[] args) =>
        ProcessRunner.RunAsync(
            "dotnet",
            [CliDll, .. args, "--server", server.GrpcAddress.ToString(), "--api-key-file", keyFile],
            new Dictionary<string, string> { ["DTRUST_STATE_DIR"] = server.StateDir });

    public static Task<ProcessRunner.Result> OpensslAsync(params string[] args) => ProcessRunner.RunAsync("openssl", args);

    /// <summary>The serial as openssl prints it: upper-case hex without the sign-padding zero byte.</summary>
    public static string OpensslSerial(string dotnetSerialHex)
    {
        var s = dotnetSerialHex.ToUpperInvariant();
        while (s.Length > 2 && s.StartsWith("00", StringComparison.Ordinal))
        {
            s = s[2..];
        }

        return s;
    }

    public static async Task<string> WritePemAsync(string dir, string name, Google.Protobuf.ByteString der)
    {
        var path = Path.Combine(dir, name);
        await File.WriteAllTextAsync(path, System.Security.Cryptography.PemEncoding.WriteString("CERTIFICATE", der.Span));
        return path;
    }

    public static async Task<Credential> ActivateAsync(DTrustClient client, string credentialId, string transportPin, string pin = "12345678") =>
        await client.Credentials.ActivateCredentialAsync(
            new ActivateCredentialRequest { CredentialId = credentialId, TransportPin = transportPin, ActivationPin = pin });

    public static async Task<CredentialStatus> PollStatusAsync(DTrustClient client, string id, CredentialStatus wanted)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        CredentialStatus status;
        do
        {
            status = (await client.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = id })).Status;
            if (status == wanted)
            {
                break;
            }

            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);
        return status;
    }

    public static string Seconds(TimeSpan span) => ((long)span.TotalSeconds).ToString(CultureInfo.InvariantCulture);
}
