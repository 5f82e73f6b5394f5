using System.CommandLine;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using DTrust.Signing.V1;

namespace DTrust.Client.Commands;

/// <summary>Operator commands: API callers of your tenant, the audit chain, and usage for billing.</summary>
internal static class AdminCommands
{
    public static Command Caller(Cli cli)
    {
        var name = new Argument<string>("name");
        var role = new Option<string>("--role") { Description = "partner (operators are registered on the server host: add-caller)", Required = true };
        var returnUrls = new Option<string[]>("--return-url")
        {
            Description = "a URL the holder's browser may be sent back to after approval (repeatable; CSC's redirect_uri)",
            AllowMultipleArgumentsPerToken = true,
        };
        var create = new Command("create", "registers a caller and prints its API key once") { name, role, returnUrls };
        create.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var request = new CreateCallerRequest { Name = parse.GetValue(name)!, Role = CredentialCommands.ParseEnum<CallerRole>(parse.GetValue(role)!, "CALLER_ROLE_") };
            request.ReturnUrls.AddRange(parse.GetValue(returnUrls) ?? []);
            var r = await client.Credentials.CreateCallerAsync(request, cancellationToken: ct);
            Console.WriteLine($"caller   {r.Caller.CallerId} ({CredentialCommands.Name(r.Caller.Role)})");
            foreach (var url in r.Caller.ReturnUrls)
            {
                Console.WriteLine($"return   {url}");
            }

            Console.WriteLine($"api key  {r.ApiKey}   (shown once; stored only as a hash)");
            return 0;
        }));

        var list = new Command("list", "lists your tenant's callers");
        list.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            foreach (var c in (await client.Credentials.ListCallersAsync(new ListCallersRequest(), cancellationToken: ct)).Callers)
            {
                Console.WriteLine($"{c.CallerId}  {CredentialCommands.Name(c.Role),-9} {(c.Revoked ? "REVOKED" : "active"),-8} {c.Name}");
            }

            return 0;
        }));

        var id = new Argument<string>("caller");
        var revoke = new Command("revoke", "revokes a caller's API key") { id };
        revoke.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var c = await client.Credentials.RevokeCallerAsync(new RevokeCallerRequest { CallerId = parse.GetValue(id)! }, cancellationToken: ct);
            Console.WriteLine($"{c.CallerId} revoked");
            return 0;
        }));

        return new Command("caller", "API callers (operators and partners) of your tenant") { create, list, revoke };
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>An audit entry as the evidence check needs it, and as <c>--export</c> writes it.</summary>
    internal sealed record ExportedEntry(long Sequence, string CredentialId, string Action, string DetailsJson);

    private static async Task<List<ExportedEntry>> SignatureEntriesAsync(Cli cli, ParseResult parse, string? credentialId, CancellationToken ct)
    {
        using var client = cli.Connect(parse);
        var all = new List<ExportedEntry>();
        long after = 0;
        while (true)
        {
            var page = await client.Credentials.ListAuditEntriesAsync(
                new ListAuditEntriesRequest { CredentialId = credentialId ?? "", Action = "signature.created", AfterSequence = after, PageSize = 500 },
                cancellationToken: ct);
            all.AddRange(page.Entries.Select(e => new ExportedEntry(e.Sequence, e.CredentialId, e.Action, e.DetailsJson)));
            if (page.Entries.Count < 500)
            {
                return all;
            }

            after = page.Entries[^1].Sequence;
        }
    }

    public static Command Audit(Cli cli)
    {
        var checkpointFiles = new Option<FileInfo[]>("--checkpoint")
        {
            Description = "checkpoints kept earlier (GET /audit/checkpoint, or the checkpoint directory): the chain must extend each",
            AllowMultipleArgumentsPerToken = true,
        };
        var auditCert = new Option<FileInfo?>("--audit-cert") { Description = "PEM audit certificate (default: $DTRUST_STATE_DIR/pki/audit.pem)" };
        var ca = new Option<FileInfo?>("--ca") { Description = "PEM root the TSA chains to (default: $DTRUST_STATE_DIR/pki/root.pem)" };
        var verify = new Command("verify", "recomputes the audit hash chain, compares it with the stored head and with every checkpoint given; names what was cut, changed, removed or reordered")
        {
            checkpointFiles, auditCert, ca,
        };
        verify.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            // The checkpoints first, from their files alone: signatures, time-stamps, and each extending the last.
            var state = Environment.GetEnvironmentVariable("DTRUST_STATE_DIR") ?? ".state";
            var files = parse.GetValue(checkpointFiles) ?? [];
            Cli.RequireReadable(files);
            var notes = new List<AuditCheckpointNote>();
            var problems = new List<string>();
            if (files.Length > 0)
            {
                var certPath = parse.GetValue(auditCert)?.FullName ?? Path.Combine(state, "pki", "audit.pem");
                var rootPath = parse.GetValue(ca)?.FullName ?? Path.Combine(state, "pki", "root.pem");
                Cli.RequireReadable([new FileInfo(certPath), new FileInfo(rootPath)]);
                var certificate = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(certPath, ct));
                var roots = new X509Certificate2Collection();
                roots.ImportFromPemFile(rootPath);
                foreach (var f in files)
                {
                    var note = AuditCheckpointCheck.Parse(f.Name, await File.ReadAllTextAsync(f.FullName, ct));
                    if (AuditCheckpointCheck.CheckSignatures(note, certificate, roots) is { } bad)
                    {
                        problems.Add(bad);
                    }

                    notes.Add(note);
                }

                // The same checkpoint twice (latest.txt beside its numbered copy) counts once; then in the order they were made.
                notes = [.. notes.DistinctBy(n => Convert.ToHexString(n.Hash)).OrderBy(n => n.Size).ThenBy(n => n.Time, StringComparer.Ordinal)];
                for (var i = 1; i < notes.Count; i++)
                {
                    if (notes[i].Previous is not { } prev || !prev.AsSpan().SequenceEqual(notes[i - 1].Hash))
                    {
                        problems.Add($"{notes[i].File} does not extend {notes[i - 1].File}: its prev is not that checkpoint (one is missing between them, or the log was forked)");
                    }
                }
            }

            using var client = cli.Connect(parse);
            var request = new VerifyAuditLogRequest();
            request.CheckpointSizes.AddRange(notes.Select(n => n.Size));
            var r = await client.Credentials.VerifyAuditLogAsync(request, cancellationToken: ct);
            if (!r.Intact)
            {
                problems.Add(r.Problem == "head"
                    ? $"cut tail: the chain has {r.Entries} entries, the head the store keeps says {r.HeadSequence}"
                    : $"entry {r.FirstBadSequence} was {r.Problem} ({r.Entries} entries read)");
            }

            problems.AddRange(r.UsageDifferences.Select(d => "billing: " + d));
            if (r.Intact && r.SignaturesWithoutLevel > 0 && r.SignaturesWithLevel > 0)
            {
                // Old entries have no level; one without it among entries that have it switches the recount off.
                problems.Add($"billing: {r.SignaturesWithoutLevel} signature entries do not name their level, among {r.SignaturesWithLevel} that do");
            }
            foreach (var note in notes)
            {
                if (note.Size > r.Entries)
                {
                    problems.Add($"cut tail: {note.File} ({note.Time}) saw {note.Size} entries, the chain now has {r.Entries}");
                }
                else if (note.Size > 0 && (!r.HashesAt.TryGetValue(note.Size, out var hash) || !hash.Span.SequenceEqual(note.Head)))
                {
                    problems.Add($"rewritten: entry {note.Size} no longer hashes to what {note.File} ({note.Time}) signed");
                }
                else
                {
                    Console.WriteLine($"checkpoint     {note.File}: {note.Size} entries at {note.Time}, signature and time-stamp OK, the chain extends it");
                }
            }

            if (problems.Count == 0)
            {
                Console.WriteLine($"audit chain intact: {r.Entries} entries, the stored head matches{(notes.Count > 0 ? $", {notes.Count} checkpoint(s) extended" : "")}" +
                    (r.UsageChecked ? ", usage recounts to what is billed" : ", usage not recounted (signature entries from before levels were recorded)"));
                return 0;
            }

            foreach (var p in problems)
            {
                Console.WriteLine("audit chain BROKEN: " + p);
            }

            return 1;
        }));
        var outFile = new Option<FileInfo?>("--out") { Description = "write the checkpoint here too" };
        var checkpoint = new Command("checkpoint", "signs a checkpoint of the audit chain now (the server also does every Audit:CheckpointSeconds) and prints it") { outFile };
        checkpoint.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var made = await client.Credentials.CreateAuditCheckpointAsync(new CreateAuditCheckpointRequest(), cancellationToken: ct);
            if (parse.GetValue(outFile) is { } target)
            {
                await File.WriteAllTextAsync(target.FullName, made.Note, ct);
            }

            Console.Write(made.Note);
            return 0;
        }));
        var credential = new Option<string?>("--credential") { Description = "only this credential's signatures" };
        var file = new Option<FileInfo?>("--file") { Description = "check entries exported earlier with --export, without the server" };
        var export = new Option<FileInfo?>("--export") { Description = "also write the entries as JSON, for checking elsewhere with --file" };
        var evidence = new Command(
            "evidence", "re-verifies the holder's approval behind each signature (a passkey's assertion offline, against the transaction shown)")
        {
            credential, file, export,
        };
        evidence.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            var entries = parse.GetValue(file) is { } input
                ? JsonSerializer.Deserialize<List<ExportedEntry>>(await File.ReadAllTextAsync(input.FullName, ct)) ?? []
                : await SignatureEntriesAsync(cli, parse, parse.GetValue(credential), ct);
            if (parse.GetValue(export) is { } output)
            {
                await File.WriteAllTextAsync(output.FullName, JsonSerializer.Serialize(entries, Indented), ct);
            }

            if (entries.Count == 0)
            {
                Console.Error.WriteLine("error: no signature entries to check");
                return 1;
            }

            var failed = 0;
            foreach (var e in entries)
            {
                var verdict = ApprovalEvidence.Verify(e.CredentialId, e.DetailsJson);
                Console.WriteLine($"#{e.Sequence}  {e.CredentialId}  {verdict.Factor,-8} {(verdict.Ok ? "OK" : "FAILED: " + verdict.Problem)}");
                foreach (var check in verdict.Checked)
                {
                    Console.WriteLine("    " + check);
                }

                failed += verdict.Ok ? 0 : 1;
            }

            // Entries, not signatures: a seal's entry covers its whole batch.
            Console.WriteLine(failed == 0
                ? $"{entries.Count} signature entr{(entries.Count == 1 ? "y" : "ies")}: evidence verified"
                : $"{failed} of {entries.Count} signature entries FAILED");
            return failed == 0 ? 0 : 1;
        }));

        var proveSequence = new Argument<long>("entry") { Description = "the audit entry's sequence number (dtrust audit evidence lists them as #N)" };
        var proveCheckpoint = new Option<FileInfo>("--checkpoint") { Description = "the signed checkpoint to prove the entry in", Required = true };
        var proveCert = new Option<FileInfo?>("--audit-cert") { Description = "PEM audit certificate (default: $DTRUST_STATE_DIR/pki/audit.pem)" };
        var proveCa = new Option<FileInfo?>("--ca") { Description = "PEM root the TSA chains to (default: $DTRUST_STATE_DIR/pki/root.pem)" };
        var prove = new Command(
            "prove",
            "proves one entry is in the log a checkpoint signed (RFC 9162 inclusion proof): the checkpoint's signatures, the " +
            "entry's hash from its fields, the path to the checkpoint's merkle root")
        {
            proveSequence, proveCheckpoint, proveCert, proveCa,
        };
        prove.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            var state = Environment.GetEnvironmentVariable("DTRUST_STATE_DIR") ?? ".state";
            var file = parse.GetValue(proveCheckpoint)!;
            var certPath = parse.GetValue(proveCert)?.FullName ?? Path.Combine(state, "pki", "audit.pem");
            var rootPath = parse.GetValue(proveCa)?.FullName ?? Path.Combine(state, "pki", "root.pem");
            Cli.RequireReadable([file, new FileInfo(certPath), new FileInfo(rootPath)]);
            var note = AuditCheckpointCheck.Parse(file.Name, await File.ReadAllTextAsync(file.FullName, ct));
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(rootPath);
            if (AuditCheckpointCheck.CheckSignatures(note, X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(certPath, ct)), roots) is { } bad)
            {
                throw new InvalidOperationException(bad);
            }

            var merkle = note.Merkle ?? throw new InvalidOperationException($"{file.Name} has no merkle line (a checkpoint from before inclusion proofs)");
            using var client = cli.Connect(parse);
            var proof = await client.Credentials.ProveAuditEntryAsync(
                new ProveAuditEntryRequest { Sequence = parse.GetValue(proveSequence), TreeSize = note.Size }, cancellationToken: ct);
            if (AuditProofCheck.Problem(proof, parse.GetValue(proveSequence), note.Size, merkle) is { } problem)
            {
                Console.WriteLine("NOT PROVEN: " + problem);
                return 1;
            }

            var e = proof.Entry;
            Console.WriteLine($"entry          #{e.Sequence} {e.Action} {e.Outcome} {e.CredentialId} at {e.Time.ToDateTimeOffset():yyyy-MM-dd HH:mm:ss.fff}");
            Console.WriteLine($"details        {e.DetailsJson}");
            Console.WriteLine($"proven         in {note.File} ({note.Size} entries at {note.Time}): {proof.Path.Count} hashes lead to its signed merkle root");
            return 0;
        }));

        return new Command("audit", "the append-only audit log") { verify, checkpoint, evidence, prove };
    }

    public static Command Usage(Cli cli)
    {
        var month = new Option<string?>("--month") { Description = "YYYY-MM (default: every month)" };
        var usage = new Command("usage", "signatures per month and level for your tenant (what is billed)") { month };
        usage.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var r = await client.Credentials.GetUsageAsync(new GetUsageRequest { Month = parse.GetValue(month) ?? "" }, cancellationToken: ct);
            Console.WriteLine("month    level          signatures");
            foreach (var row in r.Rows)
            {
                Console.WriteLine($"{row.Month}  {CredentialCommands.Name(row.Level),-14} {row.Signatures,10}");
            }

            return 0;
        }));
        return usage;
    }
}
