using System.Data.Common;
using System.Diagnostics;
using DTrust.KeyVault;
using DTrust.Store.Internal;
using Prometheus;

namespace DTrust.Store;

/// <summary>
/// The store over ADO.NET, shared by both engines: the SQL below is the dialect SQLite and PostgreSQL have in common
/// (RETURNING, ON CONFLICT, LIMIT). An engine adds its connections, its write transaction, its migrations and which
/// of its errors mean "unavailable". Times are stored as unix microseconds (the audit chain's precision), enums by name.
/// </summary>
public abstract partial class StoreEngine : ICredentialStore, IOrganisationStore, ICallerStore, IPasskeyStore, IAuditLog, IUsageReport, ICodeFailureLog, ICrlStore, IAsyncDisposable
{
    private const string UserColumns =
        "tenant, user_id, given_name, surname, country, phone, ident_method, ident_verified_at_us, ident_valid_until_us, " +
        "ident_stale, created_at_us, updated_at_us, version";

    private const string CredentialColumns =
        "id, tenant, user_id, organisation, holder_function, level, algorithm, status, certificate, serial_hex, " +
        "not_after_us, key_domain, key_algorithm, key_spki, key_salt, key_blob, key_digest, failed_pins, " +
        "one_factor_consent_at_us, revocation_reason, revoked_at_us, created_at_us, updated_at_us, version, activated_at_us, unlocks, seal_callers";

    private const string OrganisationColumns =
        "tenant, org_id, name, country, identifier, representative, representative_evidence, evidence_verified_at_us, " +
        "created_at_us, updated_at_us, version, representative_phone";

    // A PIN lock falls back to where the credential was: VALID once activated, else NOT_ACTIVATED.
    private const string StatusBeforeLock = "CASE WHEN activated_at_us IS NULL THEN @not_activated ELSE @valid END";

    private const string CallerColumns = "id, tenant, name, role, credential_hash, created_at_us, revoked_at_us, return_urls";

    private const string PasskeyColumns = "id, tenant, user_id, public_key, sign_count, backup_eligible, aaguid, name, created_at_us";

    private protected StoreEngine(string engineName, int auditBatchSize, ILogger log)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(auditBatchSize, 1);
        EngineName = engineName;
        Log = log;
        _auditBatchSize = auditBatchSize;
        _writer = Task.Run(WriteAuditLoopAsync);
    }

    /// <summary>"sqlite" or "postgres", for logs.</summary>
    public string EngineName { get; }

    private protected ILogger Log { get; }

    /// <summary>Opens a connection ready for use (pragmas set).</summary>
    private protected abstract Task<DbConnection> OpenAsync(CancellationToken ct);

    /// <summary>A transaction that holds the engine's write lock (SQLite: BEGIN IMMEDIATE), or a plain one.</summary>
    private protected abstract Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken ct);

    /// <summary>Suffix of the chain-head read that serialises appenders of all nodes (PostgreSQL: FOR UPDATE).</summary>
    private protected abstract string ChainHeadLock { get; }

    /// <summary>True for errors a retry may cure (connection refused or lost, disk I/O, lock timeouts).</summary>
    private protected abstract bool IsUnavailable(Exception error);

    private protected static DTrustException Unavailable(Exception inner) =>
        new(ErrorKind.Unavailable, "the credential store is unavailable", inner);

    // ---- holders ----

    public Task<UserRecord?> GetUserAsync(string tenant, string userId, CancellationToken ct) =>
        RunAsync(async c =>
        {
            await using var cmd = Command(c, null, $"SELECT {UserColumns} FROM users WHERE tenant = @tenant AND user_id = @id",
                ("tenant", tenant), ("id", userId));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            return await r.ReadAsync(ct) ? ReadUser(r) : null;
        }, ct, StoreMetrics.UserRead);

    public Task<bool> InsertUserAsync(UserRecord user, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(user);
        return RunAsync(async c =>
        {
            await using var cmd = Command(c, null,
                $"INSERT INTO users ({UserColumns}) VALUES (@tenant, @id, @given, @surname, @country, @phone, @method, " +
                "@verified, @valid_until, @stale, @created, @updated, 1) ON CONFLICT DO NOTHING",
                UserParameters(user));
            return await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);
    }

    public Task<bool> UpdateUserAsync(UserRecord user, long expectedVersion, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(user);
        return RunAsync(async c =>
        {
            await using var cmd = Command(c, null,
                "UPDATE users SET given_name = @given, surname = @surname, country = @country, phone = @phone, " +
                "ident_method = @method, ident_verified_at_us = @verified, ident_valid_until_us = @valid_until, " +
                "ident_stale = @stale, updated_at_us = @updated, version = version + 1 " +
                "WHERE tenant = @tenant AND user_id = @id AND version = @expected",
                [.. UserParameters(user), ("expected", expectedVersion)]);
            return await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);
    }

    // ---- organisations ----

    public Task<OrganisationRecord?> GetOrganisationAsync(string tenant, string organisationId, CancellationToken ct) =>
        RunAsync(async c =>
        {
            await using var cmd = Command(c, null, $"SELECT {OrganisationColumns} FROM organisations WHERE tenant = @tenant AND org_id = @id",
                ("tenant", tenant), ("id", organisationId));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            return await r.ReadAsync(ct) ? ReadOrganisation(r) : null;
        }, ct);

    public Task<OrganisationRecord?> FindOrganisationByIdentifierAsync(string identifier, CancellationToken ct) =>
        RunAsync(async c =>
        {
            await using var cmd = Command(c, null, $"SELECT {OrganisationColumns} FROM organisations WHERE identifier = @identifier",
                ("identifier", identifier));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            return await r.ReadAsync(ct) ? ReadOrganisation(r) : null;
        }, ct);

    public Task<bool> InsertOrganisationAsync(OrganisationRecord organisation, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(organisation);
        return RunAsync(async c =>
        {
            await using var cmd = Command(c, null,
                $"INSERT INTO organisations ({OrganisationColumns}) VALUES (@tenant, @id, @name, @country, @identifier, " +
                "@representative, @evidence, @verified, @created, @updated, 1, @phone) ON CONFLICT DO NOTHING",
                OrganisationParameters(organisation));
            return await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);
    }

    public Task<bool> UpdateOrganisationAsync(OrganisationRecord organisation, long expectedVersion, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(organisation);
        return RunAsync(async c =>
        {
            await using var cmd = Command(c, null,
                "UPDATE organisations SET name = @name, country = @country, identifier = @identifier, representative = @representative, " +
                "representative_evidence = @evidence, evidence_verified_at_us = @verified, representative_phone = @phone, " +
                "updated_at_us = @updated, version = version + 1 " +
                "WHERE tenant = @tenant AND org_id = @id AND version = @expected",
                [.. OrganisationParameters(organisation), ("expected", expectedVersion)]);
            return await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);
    }

    // ---- credentials ----

    public Task InsertCredentialAsync(CredentialRecord credential, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(credential);
        return RunAsync(async c =>
        {
            await using var cmd = Command(c, null,
                $"INSERT INTO credentials ({CredentialColumns}) VALUES (@id, @tenant, @user, @organisation, @function, " +
                "@level, @algorithm, @status, @certificate, @serial, @not_after, @key_domain, @key_algorithm, @key_spki, " +
                "@key_salt, @key_blob, @key_digest, @failed_pins, @consent, @reason, @revoked_at, @created, @updated, 1, @activated, @unlocks, @seal_callers) " +
                "ON CONFLICT DO NOTHING",
                CredentialParameters(credential));

            // Ids are random and made by the server, so a clash is a bug or a reused serial, never a caller's doing.
            return await cmd.ExecuteNonQueryAsync(ct) == 1
                ? true
                : throw new DTrustException(ErrorKind.FailedPrecondition, "a credential with this id or certificate serial already exists");
        }, ct);
    }

    public Task<CredentialRecord?> GetCredentialAsync(string tenant, string credentialId, CancellationToken ct) =>
        RunAsync(async c =>
        {
            await using var cmd = Command(c, null, $"SELECT {CredentialColumns} FROM credentials WHERE tenant = @tenant AND id = @id",
                ("tenant", tenant), ("id", credentialId));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            return await r.ReadAsync(ct) ? ReadCredential(r) : null;
        }, ct, StoreMetrics.CredentialRead);

    public Task<IReadOnlyList<CredentialRecord>> ListCredentialsAsync(
        string tenant, string? userId, bool onlyValid, string? afterId, int limit, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        // Conditions are added, not written as "@p IS NULL OR …", so PostgreSQL never sees an untyped null parameter.
        var sql = $"SELECT {CredentialColumns} FROM credentials WHERE tenant = @tenant";
        List<(string, object?)> parameters = [("tenant", tenant), ("limit", limit)];
        if (userId is not null)
        {
            sql += " AND user_id = @user";
            parameters.Add(("user", userId));
        }

        if (onlyValid)
        {
            sql += " AND status = @valid";
            parameters.Add(("valid", nameof(CredentialStatus.Valid)));
        }

        if (afterId is not null)
        {
            sql += " AND id > @after";
            parameters.Add(("after", afterId));
        }

        sql += " ORDER BY id LIMIT @limit";
        return ListAsync(sql, [.. parameters], ReadCredential, ct);
    }

    public Task<bool> UpdateCredentialAsync(CredentialRecord credential, long expectedVersion, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(credential);
        return RunAsync(async c =>
        {
            // Everything but the identity (id, tenant) and creation time: activation re-wraps the key under the new PIN.
            await using var cmd = Command(c, null,
                "UPDATE credentials SET user_id = @user, organisation = @organisation, holder_function = @function, " +
                "level = @level, algorithm = @algorithm, status = @status, certificate = @certificate, serial_hex = @serial, " +
                "not_after_us = @not_after, key_domain = @key_domain, key_algorithm = @key_algorithm, key_spki = @key_spki, " +
                "key_salt = @key_salt, key_blob = @key_blob, key_digest = @key_digest, failed_pins = @failed_pins, " +
                "one_factor_consent_at_us = @consent, revocation_reason = @reason, revoked_at_us = @revoked_at, " +
                "activated_at_us = @activated, unlocks = @unlocks, seal_callers = @seal_callers, " +
                "updated_at_us = @updated, version = version + 1 " +
                "WHERE tenant = @tenant AND id = @id AND version = @expected",
                [.. CredentialParameters(credential), ("expected", expectedVersion)]);
            return await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);
    }

    // The PIN counters are written by every signature: they ride the audit group commit (WriteInGroupAsync), durable
    // when they return like any write here, instead of each taking the write lock and a commit of its own.

    public async Task<(int FailedPins, CredentialStatus Status)?> TakePinAttemptAsync(
        string tenant, string credentialId, CredentialStatus expected, int limit, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        // One statement, before the HSM is asked: concurrent calls on any node can never take more than the
        // limit, and the attempt that takes the last one locks the credential for everybody after it.
        var taken = await WriteInGroupAsync(new GroupStatement(
            "UPDATE credentials SET failed_pins = failed_pins + 1, " +
            "status = CASE WHEN failed_pins + 1 >= @limit THEN @locked ELSE status END, " +
            "updated_at_us = @now, version = version + 1 " +
            "WHERE tenant = @tenant AND id = @id AND status = @expected AND failed_pins < @limit " +
            "RETURNING failed_pins, status",
            [("limit", (long)limit), ("locked", nameof(CredentialStatus.Locked)), ("expected", expected.ToString()),
                ("now", Micros(now)), ("tenant", tenant), ("id", credentialId)],
            r => ((int)r.GetInt64(0), Enum.Parse<CredentialStatus>(r.GetString(1)))), ct);
        return taken is null ? null : ((int, CredentialStatus))taken;
    }

    public Task ResetWrongPinsAsync(string tenant, string credentialId, int limit, DateTimeOffset now, CancellationToken ct) =>
        // The right PIN proves the holder: the count goes to zero, and a lock that attempts in flight beside
        // this one set (the count at the limit) is lifted (back to NOT_ACTIVATED if it never was activated, as an
        // operator's unlock). A lock with the count below the limit was set for something else: it stays.
        WriteInGroupAsync(new GroupStatement(
            "UPDATE credentials SET failed_pins = 0, " +
            $"status = CASE WHEN status = @locked AND failed_pins >= @limit THEN {StatusBeforeLock} ELSE status END, " +
            "updated_at_us = @now, version = version + 1 " +
            "WHERE tenant = @tenant AND id = @id AND failed_pins <> 0 AND status IN (@valid, @not_activated, @locked)",
            [.. LockStatuses, ("limit", (long)limit), ("now", Micros(now)), ("tenant", tenant), ("id", credentialId)]), ct);

    public Task ReturnPinAttemptAsync(string tenant, string credentialId, int limit, DateTimeOffset now, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);

        // One attempt back, not a reset: the wrong PINs of other calls stay counted.
        return WriteInGroupAsync(new GroupStatement(
            "UPDATE credentials SET failed_pins = failed_pins - 1, " +
            $"status = CASE WHEN status = @locked AND failed_pins = @limit THEN {StatusBeforeLock} ELSE status END, " +
            "updated_at_us = @now, version = version + 1 " +
            "WHERE tenant = @tenant AND id = @id AND failed_pins > 0 AND status IN (@valid, @not_activated, @locked)",
            [.. LockStatuses, ("limit", (long)limit), ("now", Micros(now)), ("tenant", tenant), ("id", credentialId)]), ct);
    }

    public Task<IReadOnlyList<CredentialRecord>> ListRevocationsInProgressAsync(CancellationToken ct) =>
        ListAsync($"SELECT {CredentialColumns} FROM credentials WHERE status = @status ORDER BY id",
            [("status", nameof(CredentialStatus.RevocationInProgress))], ReadCredential, ct);

    public Task<IReadOnlyList<RevokedCertificate>> ListRevokedAsync(CredentialLevel level, CancellationToken ct) =>
        ListAsync(
            "SELECT serial_hex, COALESCE(revoked_at_us, updated_at_us), COALESCE(revocation_reason, 0) FROM credentials " +
            "WHERE level = @level AND status IN (@in_progress, @revoked) ORDER BY serial_hex",
            [("level", level.ToString()), ("in_progress", nameof(CredentialStatus.RevocationInProgress)),
                ("revoked", nameof(CredentialStatus.Revoked))],
            r => new RevokedCertificate(r.GetString(0), Time(r.GetInt64(1)), (int)r.GetInt64(2)), ct);

    public Task<CredentialRecord?> FindBySerialAsync(CredentialLevel level, string serialHex, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(serialHex);
        return RunAsync(async c =>
        {
            await using var cmd = Command(c, null,
                $"SELECT {CredentialColumns} FROM credentials WHERE level = @level AND serial_hex = @serial",
                ("level", level.ToString()), ("serial", serialHex.ToUpperInvariant()));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            return await r.ReadAsync(ct) ? ReadCredential(r) : null;
        }, ct);
    }

    public async Task<SerialStanding> StandingAsync(CredentialLevel level, string serialHex, CancellationToken ct)
    {
        var credential = await FindBySerialAsync(level, serialHex, ct);
        if (credential is null)
        {
            return SerialStanding.Unknown;
        }

        return credential.Status is CredentialStatus.RevocationInProgress or CredentialStatus.Revoked
            ? new SerialStanding(true, new RevokedCertificate(
                credential.SerialHex, credential.RevokedAt ?? credential.UpdatedAt, credential.RevocationReason ?? 0))
            : SerialStanding.Good;
    }

    // ---- CRLs ----

    public Task<PublishedCrl?> GetLatestCrlAsync(CredentialLevel level, CancellationToken ct) =>
        RunAsync(async c =>
        {
            await using var cmd = Command(c, null,
                "SELECT number, this_update_us, next_update_us, der FROM crls WHERE level = @level ORDER BY number DESC LIMIT 1",
                ("level", level.ToString()));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            return await r.ReadAsync(ct)
                ? new PublishedCrl(level, r.GetInt64(0), Time(r.GetInt64(1)), Time(r.GetInt64(2)), r.GetFieldValue<byte[]>(3))
                : null;
        }, ct);

    public Task<bool> InsertCrlAsync(PublishedCrl crl, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(crl);
        return RunAsync(async c =>
        {
            // One statement: the "no higher number" check and the insert cannot be split by another node's insert
            // of a higher number (SQLite serialises writers; PostgreSQL's primary key settles equal numbers, and
            // the check, run in the same statement, sees any higher number committed before it).
            await using var cmd = Command(c, null,
                "INSERT INTO crls (level, number, this_update_us, next_update_us, der) " +
                "SELECT @level, @number, @this, @next, @der WHERE NOT EXISTS (SELECT 1 FROM crls WHERE level = @level AND number >= @number) " +
                "ON CONFLICT DO NOTHING",
                ("level", crl.Level.ToString()), ("number", crl.Number), ("this", Micros(crl.ThisUpdate)),
                ("next", Micros(crl.NextUpdate)), ("der", crl.Der));
            return await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);
    }

    // ---- wrong one-time codes ----

    public Task<int> RecordWrongCodeAsync(string tenant, string credentialId, bool voided, DateTimeOffset now, CancellationToken ct) =>
        RunAsync(async c =>
        {
            // One upsert: concurrent wrong codes on several nodes cannot lose a count; a new day starts from one.
            await using var cmd = Command(c, null,
                "INSERT INTO code_failures (tenant, credential_id, day, wrong_codes, voided) VALUES (@tenant, @id, @day, 1, @voided) " +
                "ON CONFLICT (tenant, credential_id) DO UPDATE SET " +
                "wrong_codes = CASE WHEN code_failures.day = excluded.day THEN code_failures.wrong_codes + 1 ELSE 1 END, " +
                "voided = CASE WHEN code_failures.day = excluded.day THEN code_failures.voided + excluded.voided ELSE excluded.voided END, " +
                "day = excluded.day RETURNING wrong_codes",
                ("tenant", tenant), ("id", credentialId), ("day", Day(now)), ("voided", voided ? 1L : 0L));
            return (int)(long)(await cmd.ExecuteScalarAsync(ct))!;
        }, ct);

    public Task<int> WrongCodesTodayAsync(string tenant, string credentialId, DateTimeOffset now, CancellationToken ct) =>
        RunAsync(async c =>
        {
            await using var cmd = Command(c, null,
                "SELECT wrong_codes FROM code_failures WHERE tenant = @tenant AND credential_id = @id AND day = @day",
                ("tenant", tenant), ("id", credentialId), ("day", Day(now)));
            return await cmd.ExecuteScalarAsync(ct) is long n ? (int)n : 0;
        }, ct);

    public Task ResetWrongCodesAsync(string tenant, string credentialId, CancellationToken ct) =>
        RunAsync(async c =>
        {
            await using var cmd = Command(c, null, "DELETE FROM code_failures WHERE tenant = @tenant AND credential_id = @id",
                ("tenant", tenant), ("id", credentialId));
            return await cmd.ExecuteNonQueryAsync(ct);
        }, ct);

    private static string Day(DateTimeOffset now) => now.UtcDateTime.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

    // ---- callers ----

    public Task<bool> InsertCallerAsync(CallerRecord caller, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(caller);
        return RunAsync(async c =>
        {
            await using var cmd = Command(c, null,
                $"INSERT INTO callers ({CallerColumns}) VALUES (@id, @tenant, @name, @role, @hash, @created, @revoked, @urls) " +
                "ON CONFLICT DO NOTHING",
                ("id", caller.Id), ("tenant", caller.Tenant), ("name", caller.Name), ("role", caller.Role.ToString()),
                ("hash", caller.CredentialHash), ("created", Micros(caller.CreatedAt)), ("revoked", Micros(caller.RevokedAt)),
                ("urls", string.Join('\n', caller.ReturnUrls)));
            return await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);
    }

    public Task<CallerRecord?> FindCallerAsync(byte[] credentialHash, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(credentialHash);
        return RunAsync(async c =>
        {
            await using var cmd = Command(c, null, $"SELECT {CallerColumns} FROM callers WHERE credential_hash = @hash",
                ("hash", credentialHash));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            return await r.ReadAsync(ct) ? ReadCaller(r) : null;
        }, ct, StoreMetrics.CallerRead);
    }

    public Task<CallerRecord?> GetCallerAsync(string callerId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(callerId);
        return RunAsync(async c =>
        {
            await using var cmd = Command(c, null, $"SELECT {CallerColumns} FROM callers WHERE id = @id", ("id", callerId));
            await using var r = await cmd.ExecuteReaderAsync(ct);
            return await r.ReadAsync(ct) ? ReadCaller(r) : null;
        }, ct, StoreMetrics.CallerRead);
    }

    public Task<IReadOnlyList<CallerRecord>> ListCallersAsync(string tenant, CancellationToken ct) =>
        ListAsync($"SELECT {CallerColumns} FROM callers WHERE tenant = @tenant ORDER BY id", [("tenant", tenant)], ReadCaller, ct);

    public Task<bool> RevokeCallerAsync(string tenant, string callerId, DateTimeOffset at, CancellationToken ct) =>
        RunAsync(async c =>
        {
            // A second revocation keeps the first time.
            await using var cmd = Command(c, null,
                "UPDATE callers SET revoked_at_us = COALESCE(revoked_at_us, @at) WHERE tenant = @tenant AND id = @id",
                ("at", Micros(at)), ("tenant", tenant), ("id", callerId));
            return await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);

    // ---- passkeys ----

    public Task<bool> InsertPasskeyAsync(PasskeyRecord passkey, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(passkey);
        return RunAsync(async c =>
        {
            await using var cmd = Command(c, null,
                $"INSERT INTO passkeys ({PasskeyColumns}) VALUES (@id, @tenant, @user, @key, @count, @backup, @aaguid, @name, @created) " +
                "ON CONFLICT DO NOTHING",
                ("id", passkey.Id), ("tenant", passkey.Tenant), ("user", passkey.UserId), ("key", passkey.PublicKey),
                ("count", (long)passkey.SignCount), ("backup", passkey.BackupEligible ? 1L : 0L), ("aaguid", passkey.Aaguid),
                ("name", passkey.Name), ("created", Micros(passkey.CreatedAt)));
            return await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);
    }

    public Task<IReadOnlyList<PasskeyRecord>> ListPasskeysAsync(string tenant, string userId, CancellationToken ct) =>
        ListAsync($"SELECT {PasskeyColumns} FROM passkeys WHERE tenant = @tenant AND user_id = @user ORDER BY id",
            [("tenant", tenant), ("user", userId)], ReadPasskey, ct);

    public Task<bool> DeletePasskeyAsync(string tenant, string userId, string passkeyId, CancellationToken ct) =>
        RunAsync(async c =>
        {
            await using var cmd = Command(c, null, "DELETE FROM passkeys WHERE tenant = @tenant AND user_id = @user AND id = @id",
                ("tenant", tenant), ("user", userId), ("id", passkeyId));
            return await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);

    public Task<bool> AdvancePasskeyCounterAsync(string passkeyId, uint signCount, CancellationToken ct) =>
        RunAsync(async c =>
        {
            // Only forward (or 0 = an authenticator without a counter): two nodes accepting one assertion cannot
            // both move it, and a cloned authenticator's stale counter never rewinds it.
            await using var cmd = Command(c, null,
                "UPDATE passkeys SET sign_count = @count WHERE id = @id AND (sign_count < @count OR (sign_count = 0 AND @count = 0))",
                ("id", passkeyId), ("count", (long)signCount));
            return await cmd.ExecuteNonQueryAsync(ct) == 1;
        }, ct);

    // ---- usage ----

    public async Task<IReadOnlyList<UsageRow>> GetUsageAsync(string tenant, string? month, CancellationToken ct)
    {
        var sql = "SELECT month, level, signatures FROM usage_counts WHERE tenant = @tenant";
        List<(string, object?)> parameters = [("tenant", tenant)];
        if (month is not null)
        {
            sql += " AND month = @month";
            parameters.Add(("month", month));
        }

        var rows = await ListAsync(sql, [.. parameters],
            r => new UsageRow(r.GetString(0), Enum.Parse<CredentialLevel>(r.GetString(1)), r.GetInt64(2)), ct);

        // Levels by their rank, not by their names' alphabetical order.
        return [.. rows.OrderBy(u => u.Month, StringComparer.Ordinal).ThenBy(u => u.Level)];
    }

    // ---- plumbing ----

    /// <summary>Runs <paramref name="work"/> on a connection; with <paramref name="latency"/>, times it (the connection's opening too).</summary>
    private protected async Task<T> RunAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken ct, Histogram.Child? latency = null)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            return await OnConnectionAsync(work, ct);
        }
        catch (Exception e) when (IsUnavailable(e) && !ct.IsCancellationRequested)
        {
            throw Unavailable(e);
        }
        finally
        {
            latency?.ObserveSince(start);
        }
    }

    /// <summary>Runs <paramref name="work"/> on an opened connection and gives it back (a failed one is not reused).</summary>
    private protected async Task<T> OnConnectionAsync<T>(Func<DbConnection, Task<T>> work, CancellationToken ct)
    {
        var connection = await OpenAsync(ct);
        var failed = true;
        try
        {
            var result = await work(connection);
            failed = false;
            return result;
        }
        finally
        {
            await ReleaseAsync(connection, failed);
        }
    }

    private Task<IReadOnlyList<T>> ListAsync<T>(string sql, (string, object?)[] parameters, Func<DbDataReader, T> read, CancellationToken ct) =>
        RunAsync<IReadOnlyList<T>>(async c =>
        {
            await using var cmd = Command(c, null, sql, parameters);
            await using var r = await cmd.ExecuteReaderAsync(ct);
            var list = new List<T>();
            while (await r.ReadAsync(ct))
            {
                list.Add(read(r));
            }

            return list;
        }, ct);

    private static readonly (string, object?)[] LockStatuses =
    [
        ("valid", nameof(CredentialStatus.Valid)), ("not_activated", nameof(CredentialStatus.NotActivated)),
        ("locked", nameof(CredentialStatus.Locked)),
    ];

    /// <summary>
    /// A command for <paramref name="sql"/> on <paramref name="c"/>, parameters set. The caller disposes it; an
    /// engine that keeps prepared statements (<see cref="NewCommand"/>) hands out one that survives that.
    /// </summary>
    private protected DbCommand Command(DbConnection c, DbTransaction? tx, string sql, params (string Name, object? Value)[] parameters)
    {
        var cmd = NewCommand(c, sql);
        cmd.Transaction = tx;
        var same = cmd.Parameters.Count == parameters.Length;
        for (var i = 0; same && i < parameters.Length; i++)
        {
            same = cmd.Parameters[i].ParameterName == parameters[i].Name;
        }

        if (same)
        {
            // A kept command of the same statement: only the values change.
            for (var i = 0; i < parameters.Length; i++)
            {
                cmd.Parameters[i].Value = parameters[i].Value ?? DBNull.Value;
            }

            return cmd;
        }

        cmd.Parameters.Clear();
        foreach (var (name, value) in parameters)
        {
            var p = cmd.CreateParameter();
            p.ParameterName = name;
            p.Value = value ?? DBNull.Value;
            cmd.Parameters.Add(p);
        }

        return cmd;
    }

    /// <summary>A new command for <paramref name="sql"/>, or (SQLite) the connection's kept one with its prepared statement.</summary>
    private protected virtual DbCommand NewCommand(DbConnection c, string sql)
    {
        var cmd = c.CreateCommand();
#pragma warning disable CA2100 // Every statement is a constant of this class; values travel only as parameters.
        cmd.CommandText = sql;
#pragma warning restore CA2100
        return cmd;
    }

    /// <summary>
    /// Gives a connection back after use: disposed by default (the driver pools it); an engine that keeps its own
    /// connections takes back those that did not fail.
    /// </summary>
    private protected virtual ValueTask ReleaseAsync(DbConnection c, bool failed) => c.DisposeAsync();

    private protected static long Micros(DateTimeOffset time) => AuditChain.ToUnixMicroseconds(time);

    private protected static long? Micros(DateTimeOffset? time) => time is { } t ? Micros(t) : null;

    private protected static DateTimeOffset Time(long micros) => AuditChain.FromUnixMicroseconds(micros);

    private static DateTimeOffset? Time(DbDataReader r, int i) => r.IsDBNull(i) ? null : Time(r.GetInt64(i));

    private static string? Text(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    private static (string, object?)[] UserParameters(UserRecord u) =>
    [
        ("tenant", u.Tenant), ("id", u.UserId), ("given", u.GivenName), ("surname", u.Surname), ("country", u.Country),
        ("phone", u.Phone), ("method", u.Identification?.Method.ToString()), ("verified", Micros(u.Identification?.VerifiedAt)),
        ("valid_until", Micros(u.Identification?.ValidUntil)), ("stale", u.IdentificationStale ? 1L : 0L),
        ("created", Micros(u.CreatedAt)), ("updated", Micros(u.UpdatedAt)),
    ];

    private static UserRecord ReadUser(DbDataReader r) => new()
    {
        Tenant = r.GetString(0),
        UserId = r.GetString(1),
        GivenName = r.GetString(2),
        Surname = r.GetString(3),
        Country = r.GetString(4),
        Phone = r.GetString(5),
        Identification = r.IsDBNull(6)
            ? null
            : new Identification(Enum.Parse<IdentificationMethod>(r.GetString(6)), Time(r.GetInt64(7)), Time(r.GetInt64(8))),
        IdentificationStale = r.GetInt64(9) != 0,
        CreatedAt = Time(r.GetInt64(10)),
        UpdatedAt = Time(r.GetInt64(11)),
        Version = r.GetInt64(12),
    };

    private static (string, object?)[] CredentialParameters(CredentialRecord c) =>
    [
        ("id", c.Id), ("tenant", c.Tenant), ("user", c.UserId), ("organisation", c.Organisation), ("function", c.Function),
        ("level", c.Level.ToString()), ("algorithm", c.Algorithm.ToString()), ("status", c.Status.ToString()),
        ("certificate", c.Certificate), ("serial", c.SerialHex.ToUpperInvariant()), ("not_after", Micros(c.NotAfter)),
        ("key_domain", c.Key.Domain), ("key_algorithm", c.Key.Algorithm.ToString()), ("key_spki", c.Key.SubjectPublicKeyInfo),
        ("key_salt", c.Key.Salt), ("key_blob", c.Key.Blob), ("key_digest", c.Key.BlobDigest),
        ("failed_pins", (long)c.FailedPinCount), ("consent", Micros(c.OneFactorConsentAt)),
        ("reason", (long?)c.RevocationReason), ("revoked_at", Micros(c.RevokedAt)),
        ("created", Micros(c.CreatedAt)), ("updated", Micros(c.UpdatedAt)), ("activated", Micros(c.ActivatedAt)),
        ("unlocks", (long)c.Unlocks), ("seal_callers", string.Join('\n', c.SealCallers)),
    ];

    private static CredentialRecord ReadCredential(DbDataReader r) => new()
    {
        Id = r.GetString(0),
        Tenant = r.GetString(1),
        UserId = r.GetString(2),
        Organisation = Text(r, 3),
        Function = Text(r, 4),
        Level = Enum.Parse<CredentialLevel>(r.GetString(5)),
        Algorithm = Enum.Parse<KeyAlgorithm>(r.GetString(6)),
        Status = Enum.Parse<CredentialStatus>(r.GetString(7)),
        Certificate = r.GetFieldValue<byte[]>(8),
        SerialHex = r.GetString(9),
        NotAfter = Time(r.GetInt64(10)),
        Key = new WrappedCredentialKey(
            r.GetString(11), Enum.Parse<KeyAlgorithm>(r.GetString(12)), r.GetFieldValue<byte[]>(13),
            r.GetFieldValue<byte[]>(14), r.GetFieldValue<byte[]>(15), r.GetFieldValue<byte[]>(16)),
        FailedPinCount = (int)r.GetInt64(17),
        OneFactorConsentAt = Time(r, 18),
        RevocationReason = r.IsDBNull(19) ? null : (int)r.GetInt64(19),
        RevokedAt = Time(r, 20),
        CreatedAt = Time(r.GetInt64(21)),
        UpdatedAt = Time(r.GetInt64(22)),
        Version = r.GetInt64(23),
        ActivatedAt = Time(r, 24),
        Unlocks = (int)r.GetInt64(25),
        SealCallers = r.GetString(26).Split('\n', StringSplitOptions.RemoveEmptyEntries),
    };

    private static (string, object?)[] OrganisationParameters(OrganisationRecord o) =>
    [
        ("tenant", o.Tenant), ("id", o.OrganisationId), ("name", o.Name), ("country", o.Country), ("identifier", o.Identifier),
        ("representative", o.Representative), ("evidence", o.RepresentativeEvidence), ("verified", Micros(o.EvidenceVerifiedAt)),
        ("created", Micros(o.CreatedAt)), ("updated", Micros(o.UpdatedAt)), ("phone", o.RepresentativePhone),
    ];

    private static OrganisationRecord ReadOrganisation(DbDataReader r) => new()
    {
        Tenant = r.GetString(0),
        OrganisationId = r.GetString(1),
        Name = r.GetString(2),
        Country = r.GetString(3),
        Identifier = r.GetString(4),
        Representative = r.GetString(5),
        RepresentativeEvidence = r.GetString(6),
        EvidenceVerifiedAt = Time(r.GetInt64(7)),
        CreatedAt = Time(r.GetInt64(8)),
        UpdatedAt = Time(r.GetInt64(9)),
        Version = r.GetInt64(10),
        RepresentativePhone = r.GetString(11),
    };

    private static CallerRecord ReadCaller(DbDataReader r) => new()
    {
        Id = r.GetString(0),
        Tenant = r.GetString(1),
        Name = r.GetString(2),
        Role = Enum.Parse<CallerRole>(r.GetString(3)),
        CredentialHash = r.GetFieldValue<byte[]>(4),
        CreatedAt = Time(r.GetInt64(5)),
        RevokedAt = Time(r, 6),
        ReturnUrls = r.GetString(7).Split('\n', StringSplitOptions.RemoveEmptyEntries),
    };

    private static PasskeyRecord ReadPasskey(DbDataReader r) => new()
    {
        Id = r.GetString(0),
        Tenant = r.GetString(1),
        UserId = r.GetString(2),
        PublicKey = r.GetFieldValue<byte[]>(3),
        SignCount = (uint)r.GetInt64(4),
        BackupEligible = r.GetInt64(5) != 0,
        Aaguid = r.GetString(6),
        Name = r.GetString(7),
        CreatedAt = Time(r.GetInt64(8)),
    };
}
