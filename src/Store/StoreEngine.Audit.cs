using System.Data.Common;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using DTrust.Store.Internal;

namespace DTrust.Store;

/// <summary>The audit chain with group commit, and schema migrations.</summary>
public abstract partial class StoreEngine
{
    private const int ReadPageSize = 1000;

    private readonly Channel<PendingWrite> _appends = Channel.CreateUnbounded<PendingWrite>(
        new UnboundedChannelOptions { SingleReader = true });

    private readonly int _auditBatchSize;
    private readonly Task _writer;
    private long _auditCommits;
    private int _disposed;

    /// <summary>Audit transactions committed so far (tests show that appends share them).</summary>
    internal long AuditCommits => Interlocked.Read(ref _auditCommits);

    /// <summary>Numbered schema steps: index 0 is version 1. Applied in order, each once, in one transaction.</summary>
    private protected abstract IReadOnlyList<string> Migrations { get; }

    /// <summary>Takes the engine's migration lock inside <paramref name="tx"/> (several nodes may start at once).</summary>
    private protected abstract Task LockForMigrationAsync(DbConnection c, DbTransaction tx, CancellationToken ct);

    /// <summary>Settings of the database file or server made once, outside any transaction (SQLite: WAL).</summary>
    private protected virtual Task PrepareDatabaseAsync(DbConnection c, CancellationToken ct) => Task.CompletedTask;

    public async Task<AuditEntry> AppendAsync(AuditEvent entry, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var start = Stopwatch.GetTimestamp();
        try
        {
            return (AuditEntry)(await WriteAsync(new PendingWrite(entry, null, ct)))!;
        }
        finally
        {
            StoreMetrics.AuditAppend.ObserveSince(start);
        }
    }

    /// <summary>
    /// Runs <paramref name="statement"/> in the next group commit, beside the audit entries of its batch, and returns
    /// once that transaction is durable. For the small writes every signature makes (a PIN attempt taken, given back
    /// or reset): on their own each would wait for a commit of its own and, on SQLite, for the write lock the
    /// audit writer holds. Only statements that fail for no other reason than the store's health belong here: one
    /// that fails fails its whole batch.
    /// </summary>
    private protected async Task<object?> WriteInGroupAsync(GroupStatement statement, CancellationToken ct) =>
        await WriteAsync(new PendingWrite(null, statement, ct));

    private Task<object?> WriteAsync(PendingWrite pending)
    {
        pending.Cancellation.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(!_appends.Writer.TryWrite(pending), this);

        // A caller that gives up stops waiting, but its write may still be in a batch being written: the batch is
        // never altered once taken, so a cancellation can lose an acknowledgement, never a link of the chain.
        return pending.Completion.Task.WaitAsync(pending.Cancellation);
    }

    public Task<(long Sequence, byte[] Hash)> GetHeadAsync(CancellationToken ct) => RunAsync(async c =>
    {
        await using var cmd = Command(c, null, "SELECT last_seq, last_hash FROM audit_head WHERE id = 1");
        await using var r = await cmd.ExecuteReaderAsync(ct);
        return await r.ReadAsync(ct)
            ? (r.GetInt64(0), r.GetFieldValue<byte[]>(1))
            : throw new InvalidOperationException("the audit chain head is missing; was the store migrated?");
    }, ct);

    public IAsyncEnumerable<AuditEntry> ReadAllAsync(CancellationToken ct) => ReadAfterAsync(0, ct);

    public async IAsyncEnumerable<AuditEntry> ReadAfterAsync(long afterSequence, [EnumeratorCancellation] CancellationToken ct)
    {
        // Paged by sequence: no read transaction stays open while the consumer works, and errors map in RunAsync.
        var after = afterSequence;
        while (true)
        {
            var page = await RunAsync(async c =>
            {
                await using var cmd = Command(c, null,
                    $"SELECT {EntryColumns} FROM audit_log WHERE seq > @after ORDER BY seq LIMIT @limit",
                    ("after", after), ("limit", (long)ReadPageSize));
                await using var r = await cmd.ExecuteReaderAsync(ct);
                var list = new List<AuditEntry>();
                while (await r.ReadAsync(ct))
                {
                    list.Add(ReadEntry(r));
                }

                return list;
            }, ct);

            foreach (var entry in page)
            {
                yield return entry;
            }

            if (page.Count < ReadPageSize)
            {
                yield break;
            }

            after = page[^1].Sequence;
        }
    }

    public Task<IReadOnlyList<AuditEntry>> ListEntriesAsync(
        string tenant, string? credentialId, string? action, long afterSequence, int limit, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(tenant);

        // Conditions are added, not passed as NULLs: PostgreSQL cannot type an untyped NULL parameter.
        var sql = $"SELECT {EntryColumns} FROM audit_log WHERE tenant = @tenant AND seq > @after" +
            (credentialId is null ? "" : " AND credential_id = @credential") +
            (action is null ? "" : " AND action_code = @action") +
            " ORDER BY seq LIMIT @limit";
        return RunAsync<IReadOnlyList<AuditEntry>>(async c =>
        {
            await using var cmd = Command(c, null, sql,
                ("tenant", tenant), ("after", afterSequence), ("credential", credentialId ?? ""), ("action", action ?? ""), ("limit", (long)limit));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            var list = new List<AuditEntry>();
            while (await r.ReadAsync(ct))
            {
                list.Add(ReadEntry(r));
            }

            return list;
        }, ct);
    }

    // The columns ReadEntry reads, in its order.
    private const string EntryColumns = "seq, time_us, actor, tenant, credential_id, action_code, outcome, details, previous_hash, hash";

    private static AuditEntry ReadEntry(System.Data.Common.DbDataReader r) => new(
        r.GetInt64(0),
        new AuditEvent
        {
            Time = Time(r.GetInt64(1)),
            Actor = r.GetString(2),
            Tenant = r.GetString(3),
            CredentialId = r.IsDBNull(4) ? null : r.GetString(4),
            Action = r.GetString(5),
            Outcome = r.GetString(6),
            Details = r.IsDBNull(7) ? null : r.GetString(7),
        },
        r.GetFieldValue<byte[]>(8),
        r.GetFieldValue<byte[]>(9));

    /// <summary>
    /// The single writer: takes everything pending (up to the batch size), writes it in one transaction, and only
    /// after the commit completes each caller. While one batch commits the next one queues up, so the disk's commit
    /// rate bounds batches, not appends.
    /// </summary>
    private async Task WriteAuditLoopAsync()
    {
        var batch = new List<PendingWrite>(_auditBatchSize);
        while (await _appends.Reader.WaitToReadAsync())
        {
            batch.Clear();
            while (batch.Count < _auditBatchSize && _appends.Reader.TryRead(out var pending))
            {
                // Not yet written: a caller that already gave up is dropped rather than written unacknowledged.
                if (pending.Cancellation.IsCancellationRequested)
                {
                    pending.Completion.TrySetCanceled(pending.Cancellation);
                }
                else
                {
                    batch.Add(pending);
                }
            }

            if (batch.Count == 0)
            {
                continue;
            }

            var start = Stopwatch.GetTimestamp();
            try
            {
                var results = await WriteBatchAsync(batch);
                StoreMetrics.AuditCommit.ObserveSince(start);
                Interlocked.Increment(ref _auditCommits);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Completion.TrySetResult(results[i]);
                }
            }
#pragma warning disable CA1031 // Whatever failed, the loop must survive and every caller of the batch must hear of it.
            catch (Exception e)
#pragma warning restore CA1031
            {
                // Nothing of the batch is acknowledged: the transaction either committed nothing or its fate is
                // unknown (lost connection during commit), and the callers must treat it as not audited.
                StoreLog.AuditBatchFailed(Log, EngineName, batch.Count, e);
                var unavailable = IsUnavailable(e);
                foreach (var pending in batch)
                {
                    pending.Completion.TrySetException(unavailable
                        ? Unavailable(e)
                        : new DTrustException(ErrorKind.Internal, pending.Event is null ? "the store could not write" : "the audit entry could not be written", e));
                }
            }
        }
    }

    private Task<object?[]> WriteBatchAsync(List<PendingWrite> batch) => OnConnectionAsync(c => WriteBatchAsync(c, batch), CancellationToken.None);

    private async Task<object?[]> WriteBatchAsync(DbConnection c, List<PendingWrite> batch)
    {
        await using var tx = await BeginWriteAsync(c, CancellationToken.None);

        long sequence;
        byte[] previous;
        await using (var head = Command(c, tx, "SELECT last_seq, last_hash FROM audit_head WHERE id = 1" + ChainHeadLock))
        await using (var r = await head.ExecuteReaderAsync())
        {
            if (!await r.ReadAsync())
            {
                throw new InvalidOperationException("the audit chain head is missing; was the store migrated?");
            }

            sequence = r.GetInt64(0);
            previous = r.GetFieldValue<byte[]>(1);
        }

        const string insert =
            "INSERT INTO audit_log (seq, time_us, actor, tenant, credential_id, action_code, outcome, details, previous_hash, hash) " +
            "VALUES (@seq, @time, @actor, @tenant, @credential, @action, @outcome, @details, @previous, @hash)";
        var statements = new List<(string Sql, (string, object?)[] Parameters)>(batch.Count + 2);
        var results = new object?[batch.Count];
        var usage = new Dictionary<(string Tenant, string Month, CredentialLevel Level), long>();
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch[i].Statement is { } statement)
            {
                // In arrival order, before the entries: a write and the entry queued after it commit together or not at all.
                results[i] = await RunGroupStatementAsync(c, tx, statement);
                continue;
            }

            // Stored (and hashed) at microsecond precision, so the returned entry verifies like the stored one.
            var e = batch[i].Event! with { Time = Time(Micros(batch[i].Event!.Time)) };
            sequence++;
            var hash = AuditChain.ComputeHash(sequence, previous, e);
            statements.Add((insert,
            [
                ("seq", sequence), ("time", Micros(e.Time)), ("actor", e.Actor), ("tenant", e.Tenant), ("credential", e.CredentialId),
                ("action", e.Action), ("outcome", e.Outcome), ("details", e.Details), ("previous", previous), ("hash", hash),
            ]));
            results[i] = new AuditEntry(sequence, e, previous, hash);
            previous = hash;
            if (e.UsageLevel is { } level)
            {
                var key = (e.Tenant, e.Time.UtcDateTime.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture), level);
                usage[key] = usage.GetValueOrDefault(key) + e.UsageCount;
            }
        }

        foreach (var ((tenant, month, level), count) in usage)
        {
            statements.Add((
                "INSERT INTO usage_counts (tenant, month, level, signatures) VALUES (@tenant, @month, @level, @count) " +
                "ON CONFLICT (tenant, month, level) DO UPDATE SET signatures = usage_counts.signatures + excluded.signatures",
                [("tenant", tenant), ("month", month), ("level", level.ToString()), ("count", count)]));
        }

        if (statements.Count > 0)
        {
            statements.Add(("UPDATE audit_head SET last_seq = @seq, last_hash = @hash WHERE id = 1", [("seq", sequence), ("hash", previous)]));
            await ExecuteAllAsync(c, tx, statements);
        }

        await tx.CommitAsync();
        return results;
    }

    private async Task<object?> RunGroupStatementAsync(DbConnection c, DbTransaction tx, GroupStatement statement)
    {
        await using var cmd = Command(c, tx, statement.Sql, statement.Parameters);
        if (statement.Read is null)
        {
            return await cmd.ExecuteNonQueryAsync();
        }

        await using var r = await cmd.ExecuteReaderAsync();
        return await r.ReadAsync() ? statement.Read(r) : null;
    }

    private async Task ExecuteAllAsync(DbConnection c, DbTransaction tx, List<(string Sql, (string, object?)[] Parameters)> statements)
    {
        if (c.CanCreateBatch)
        {
            // PostgreSQL: the whole batch in one round trip instead of one per entry.
            await using var batch = c.CreateBatch();
            batch.Transaction = tx;
            foreach (var (sql, parameters) in statements)
            {
                var command = batch.CreateBatchCommand();
#pragma warning disable CA2100 // Constant statements of this class; values travel only as parameters.
                command.CommandText = sql;
#pragma warning restore CA2100
                foreach (var (name, value) in parameters)
                {
                    var p = command.CreateParameter();
                    p.ParameterName = name;
                    p.Value = value ?? DBNull.Value;
                    command.Parameters.Add(p);
                }

                batch.BatchCommands.Add(command);
            }

            await batch.ExecuteNonQueryAsync();
            return;
        }

        // SQLite is in-process (no round trips); the engine keeps each statement prepared on its connection.
        foreach (var (sql, parameters) in statements)
        {
            await using var command = Command(c, tx, sql, parameters);
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>Applies the pending numbered migrations in one transaction; idempotent, safe on several nodes at once.</summary>
    public Task MigrateAsync(CancellationToken ct) =>
        RunAsync(async c =>
        {
            await PrepareDatabaseAsync(c, ct);
            await using var tx = await BeginWriteAsync(c, ct);
            await LockForMigrationAsync(c, tx, ct);
            await using (var create = Command(c, tx,
                "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_at_us BIGINT NOT NULL)"))
            {
                await create.ExecuteNonQueryAsync(ct);
            }

            int current;
            await using (var read = Command(c, tx, "SELECT COALESCE(MAX(version), 0) FROM schema_version"))
            {
                current = Convert.ToInt32(await read.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
            }

            if (current > Migrations.Count)
            {
                throw new InvalidOperationException(
                    $"the store's schema is at version {current}, newer than this server knows ({Migrations.Count}); upgrade the server");
            }

            for (var version = current + 1; version <= Migrations.Count; version++)
            {
                await using (var step = Command(c, tx, Migrations[version - 1]))
                {
                    await step.ExecuteNonQueryAsync(ct);
                }

                await using (var record = Command(c, tx, "INSERT INTO schema_version (version, applied_at_us) VALUES (@v, @at)",
                    ("v", (long)version), ("at", Micros(DateTimeOffset.UtcNow))))
                {
                    await record.ExecuteNonQueryAsync(ct);
                }

                StoreLog.MigrationApplied(Log, EngineName, version);
            }

            await tx.CommitAsync(ct);
            StoreLog.SchemaReady(Log, EngineName, Migrations.Count);
            return Migrations.Count;
        }, ct);

    /// <summary>Stops taking appends, writes what is queued, then releases connections.</summary>
    public async ValueTask DisposeAsync()
    {
        // The container disposes this once per interface it is registered under.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        _appends.Writer.TryComplete();
        await _writer;
        await DisposeConnectionsAsync();
        GC.SuppressFinalize(this);
    }

    private protected abstract ValueTask DisposeConnectionsAsync();

    /// <summary>A statement for <see cref="WriteInGroupAsync"/>; <see cref="Read"/> maps its first row (none: null), else the row count.</summary>
    private protected sealed record GroupStatement(string Sql, (string, object?)[] Parameters, Func<DbDataReader, object?>? Read = null);

    /// <summary>An audit entry or a statement, waiting for its group commit.</summary>
    private sealed class PendingWrite(AuditEvent? e, GroupStatement? statement, CancellationToken cancellation)
    {
        public AuditEvent? Event { get; } = e;

        public GroupStatement? Statement { get; } = statement;

        public CancellationToken Cancellation { get; } = cancellation;

        public TaskCompletionSource<object?> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
