using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Store;
using DTrust.Testing;
using Microsoft.Data.Sqlite;

namespace DTrust.Server.Tests;

/// <summary>
/// Signed checkpoints of the audit chain against someone who can write the database: openssl verifies a
/// checkpoint's signature and time-stamp from the files alone, and dtrust audit verify names a cut tail, a chain
/// rewritten with every hash recomputed, a checkpoint that does not extend the last and an edited checkpoint.
/// The tampering needs a server of its own (it breaks the chain for good).
/// </summary>
public sealed class AuditCheckpointTests
{
    [Fact]
    public async Task Checkpoints_verify_with_openssl_and_name_a_cut_tail_a_rewritten_chain_and_a_gap()
    {
        await using var server = await ServerProcess.StartAsync(new Dictionary<string, string> { ["DTrust__Audit__CheckpointSeconds"] = "0" });
        var dir = Directory.CreateTempSubdirectory("dtrust-checkpoints-").FullName;
        var key = Path.Combine(server.StateDir, "keys", "operator.key");
        try
        {
            using var op = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("operator"));
            async Task<string> CheckpointAsync(string name)
            {
                var made = await Tools.DtrustAsync(server, key, "audit", "checkpoint", "--out", Path.Combine(dir, name));
                Assert.True(made.ExitCode == 0, made.StdOut + made.StdErr);
                return Path.Combine(dir, name);
            }

            await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);
            var c1 = await CheckpointAsync("c1.txt");
            var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);
            var doc = Path.Combine(dir, "statement.txt");
            await File.WriteAllTextAsync(doc, "statement");
            var signed = await Tools.DtrustAsync(server, Path.Combine(server.StateDir, "keys", "partner.key"), "sign", doc, "--credential", credential.CredentialId,
                "--approval", "explicit", "--otp-from-outbox", "--pin", SigningFlowTests.Pin);
            Assert.True(signed.ExitCode == 0, signed.StdOut + signed.StdErr);
            var c2 = await CheckpointAsync("c2.txt");
            await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);
            var c3 = await CheckpointAsync("c3.txt");

            // The public listener serves the latest, byte for byte what was written.
            using (var http = new HttpClient())
            {
                Assert.Equal(await File.ReadAllTextAsync(c3), await http.GetStringAsync(new Uri(server.HttpAddress, "/audit/checkpoint")));
            }

            // openssl, from the note and the audit certificate alone: the signature over the text, the time-stamp over its hash.
            var note = await File.ReadAllTextAsync(c2);
            var text = note[..(note.IndexOf("\n\n", StringComparison.Ordinal) + 1)];
            await File.WriteAllTextAsync(Path.Combine(dir, "text"), text);
            byte[] Signature(string name) => Convert.FromBase64String(note.Split('\n').Single(l => l.StartsWith($"\u2014 {name} ", StringComparison.Ordinal))[(name.Length + 3)..])[4..];
            await File.WriteAllBytesAsync(Path.Combine(dir, "sig.der"), Signature("dtrust-audit"));
            await File.WriteAllBytesAsync(Path.Combine(dir, "tst.der"), Signature("dtrust-tsa"));
            (await Tools.OpensslAsync("x509", "-in", server.Pki("audit.pem"), "-pubkey", "-noout", "-out", Path.Combine(dir, "audit.pub"))).EnsureSuccess("openssl x509 -pubkey");
            var dgst = await Tools.OpensslAsync("dgst", "-sha256", "-verify", Path.Combine(dir, "audit.pub"), "-signature", Path.Combine(dir, "sig.der"), Path.Combine(dir, "text"));
            Assert.True(dgst.ExitCode == 0, dgst.StdOut + dgst.StdErr);
            Assert.Contains("Verified OK", dgst.StdOut, StringComparison.Ordinal);
            var ts = await Tools.OpensslAsync("ts", "-verify", "-digest", Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text))),
                "-in", Path.Combine(dir, "tst.der"), "-token_in", "-CAfile", server.Pki("root.pem"), "-untrusted", server.Pki("tsa.pem"));
            Assert.True(ts.ExitCode == 0, ts.StdOut + ts.StdErr);
            // latest.txt beside its numbered copy counts once.
            var verify = await VerifyAsync(server, key, c1, c2, c3, Path.Combine(server.StateDir, "audit-checkpoints", "latest.txt"));
            Assert.True(verify.ExitCode == 0, verify.StdOut + verify.StdErr);
            Assert.Contains("3 checkpoint(s) extended", verify.StdOut, StringComparison.Ordinal);

            Assert.Contains("usage recounts to what is billed", verify.StdOut, StringComparison.Ordinal);

            // One signature's entry proven in c2 alone (RFC 9162 inclusion: log2(n) hashes, no other entry), and
            // in c3 with its longer path; an entry of another tenant is not found.
            var signatureEntry = (await op.Credentials.ListAuditEntriesAsync(new ListAuditEntriesRequest
            {
                CredentialId = credential.CredentialId,
                Action = "signature.created",
            })).Entries.Single().Sequence;
            var proven = await Tools.DtrustAsync(server, key, "audit", "prove", signatureEntry.ToString(CultureInfo.InvariantCulture), "--checkpoint", c2);
            Assert.True(proven.ExitCode == 0, proven.StdOut + proven.StdErr);
            Assert.Contains($"entry          #{signatureEntry} signature.created ok {credential.CredentialId}", proven.StdOut, StringComparison.Ordinal);
            Assert.Matches(@"proven         in c2\.txt \(\d+ entries at .*\): \d+ hashes lead to its signed merkle root", proven.StdOut);
            Assert.Equal(0, (await Tools.DtrustAsync(server, key, "audit", "prove", signatureEntry.ToString(CultureInfo.InvariantCulture), "--checkpoint", c3)).ExitCode);
            var otherTenant = Path.Combine(dir, "other.key");
            await File.WriteAllTextAsync(otherTenant, await server.AddOperatorAsync("tenant-audit-proof"));
            var foreign = await Tools.DtrustAsync(server, otherTenant, "audit", "prove", signatureEntry.ToString(CultureInfo.InvariantCulture), "--checkpoint", c2);
            Assert.Equal(2, foreign.ExitCode);
            Assert.StartsWith("NotFound", foreign.StdErr, StringComparison.Ordinal);

            // Billing changed in the database: the chain's signature entries recount to something else.
            Execute(server, "UPDATE usage_counts SET signatures = signatures + 5");
            verify = await VerifyAsync(server, key);
            Assert.Equal(1, verify.ExitCode);
            Assert.Matches(@"billing: 20\d\d-\d\d ADVANCED: billed 6, the chain has 1", verify.StdOut);
            Execute(server, "UPDATE usage_counts SET signatures = signatures - 5");

            // A gap: c3 commits to c2, not to c1.
            verify = await VerifyAsync(server, key, c1, c3);
            Assert.Equal(1, verify.ExitCode);
            Assert.Contains("c3.txt does not extend c1.txt", verify.StdOut, StringComparison.Ordinal);

            // An edited checkpoint: its size changed, its signature no longer holds.
            var edited = Path.Combine(dir, "edited.txt");
            var lines = note.Split('\n');
            lines[1] = (long.Parse(lines[1], CultureInfo.InvariantCulture) - 1).ToString(CultureInfo.InvariantCulture);
            await File.WriteAllTextAsync(edited, string.Join('\n', lines));
            verify = await VerifyAsync(server, key, edited);
            Assert.Equal(1, verify.ExitCode);
            Assert.Contains("edited.txt: the audit key's signature does not verify", verify.StdOut, StringComparison.Ordinal);

            // A rewritten chain: one entry's details changed and every hash after it recomputed, the head too. The
            // chain and the head agree with each other; only the checkpoints still know what was signed.
            var size3 = long.Parse((await File.ReadAllTextAsync(c3)).Split('\n')[1], CultureInfo.InvariantCulture);
            Rewrite(server, 2);
            verify = await VerifyAsync(server, key);
            Assert.True(verify.ExitCode == 0, "without checkpoints a consistent rewrite goes unseen: " + verify.StdOut);
            verify = await VerifyAsync(server, key, c1, c2, c3);
            Assert.Equal(1, verify.ExitCode);
            Assert.Contains("rewritten: entry", verify.StdOut, StringComparison.Ordinal);

            // The signature's entry, re-chained by the rewrite, no longer leads to the root c2 signed.
            var unproven = await Tools.DtrustAsync(server, key, "audit", "prove", signatureEntry.ToString(CultureInfo.InvariantCulture), "--checkpoint", c2);
            Assert.Equal(1, unproven.ExitCode);
            Assert.Contains($"NOT PROVEN: entry {signatureEntry} is not in the tree the checkpoint signed", unproven.StdOut, StringComparison.Ordinal);

            // Nor does the server sign the rewrite: its head no longer extends the last checkpoint.
            var refused = await Tools.DtrustAsync(server, key, "audit", "checkpoint");
            Assert.True(refused.ExitCode != 0, refused.StdOut);
            Assert.Contains("the audit chain does not extend the last checkpoint: entry", refused.StdErr, StringComparison.Ordinal);

            // A cut tail: the last entries deleted. With the head left alone the store's own head names it; with the
            // head cut back too, the last checkpoint does.
            Execute(server, $"DELETE FROM audit_log WHERE seq > {size3 - 2}");
            verify = await VerifyAsync(server, key);
            Assert.Equal(1, verify.ExitCode);
            Assert.Contains($"cut tail: the chain has {size3 - 2} entries, the head the store keeps says", verify.StdOut, StringComparison.Ordinal);
            Execute(server, $"UPDATE audit_head SET last_seq = {size3 - 2}, last_hash = (SELECT hash FROM audit_log WHERE seq = {size3 - 2})");
            verify = await VerifyAsync(server, key, c3);
            Assert.Equal(1, verify.ExitCode);
            Assert.Contains($"cut tail: c3.txt", verify.StdOut, StringComparison.Ordinal);
            Assert.Contains($"saw {size3} entries, the chain now has {size3 - 2}", verify.StdOut, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static Task<ProcessRunner.Result> VerifyAsync(ServerProcess server, string key, params string[] checkpoints) =>
        Tools.DtrustAsync(server, key, ["audit", "verify", .. checkpoints.Length > 0 ? ["--checkpoint", .. checkpoints] : Array.Empty<string>()]);

    /// <summary>What someone with write access to the database could do: change entry <paramref name="at"/> and re-chain the rest.</summary>
    private static void Rewrite(ServerProcess server, long at)
    {
        using var db = Open(server);
        var rows = new List<(long Seq, AuditEvent Event)>();
        using (var read = db.CreateCommand())
        {
            read.CommandText = "SELECT seq, time_us, actor, tenant, credential_id, action_code, outcome, details FROM audit_log ORDER BY seq";
            using var r = read.ExecuteReader();
            while (r.Read())
            {
                rows.Add((r.GetInt64(0), new AuditEvent
                {
                    Time = AuditChain.FromUnixMicroseconds(r.GetInt64(1)),
                    Actor = r.GetString(2),
                    Tenant = r.GetString(3),
                    CredentialId = r.IsDBNull(4) ? null : r.GetString(4),
                    Action = r.GetString(5),
                    Outcome = r.GetString(6),
                    Details = r.IsDBNull(7) ? null : r.GetString(7),
                }));
            }
        }

        var previous = AuditChain.GenesisHash;
        foreach (var (seq, e) in rows)
        {
            var entry = seq == at ? e with { Details = "{\"note\":\"nothing happened here\"}" } : e;
            var hash = AuditChain.ComputeHash(seq, previous, entry);
            using var update = db.CreateCommand();
            update.CommandText = "UPDATE audit_log SET details = $details, previous_hash = $previous, hash = $hash WHERE seq = $seq";
            update.Parameters.AddWithValue("$details", (object?)entry.Details ?? DBNull.Value);
            update.Parameters.AddWithValue("$previous", previous);
            update.Parameters.AddWithValue("$hash", hash);
            update.Parameters.AddWithValue("$seq", seq);
            update.ExecuteNonQuery();
            previous = hash;
        }

        using var head = db.CreateCommand();
        head.CommandText = "UPDATE audit_head SET last_hash = $hash";
        head.Parameters.AddWithValue("$hash", previous);
        head.ExecuteNonQuery();
    }

    private static void Execute(ServerProcess server, string sql)
    {
        using var db = Open(server);
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private static SqliteConnection Open(ServerProcess server)
    {
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = server.SqlitePath, Pooling = false }.ToString());
        db.Open();
        return db;
    }
}
