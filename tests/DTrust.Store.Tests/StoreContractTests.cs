using System.Diagnostics;
using System.Security.Cryptography;
using DTrust.KeyVault;
using DTrust.Store;
using Xunit.Abstractions;

namespace DTrust.Store.Tests;

/// <summary>
/// What every store engine promises (ICredentialStore, ICallerStore, IAuditLog, IUsageReport), run against each
/// engine on a real database. Each test gets a fresh, migrated store.
/// </summary>
public abstract class StoreContractTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(1_780_000_000);

    protected StoreEngine Store { get; private set; } = null!;

    protected ITestOutputHelper Output { get; } = output;

    /// <summary>A new engine on this test's database (the second call is a second node on the same database).</summary>
    protected abstract StoreEngine OpenStore(int auditBatchSize = 512);

    /// <summary>Prepares this test's empty database.</summary>
    protected abstract Task CreateDatabaseAsync();

    /// <summary>An engine pointed at a database that cannot be reached.</summary>
    protected abstract StoreEngine OpenUnreachableStore();

    /// <summary>Runs SQL directly on the database, behind the store's back (tampering).</summary>
    protected abstract Task ExecuteSqlAsync(string sql);

    public async Task InitializeAsync()
    {
        await CreateDatabaseAsync();
        Store = OpenStore();
        await Store.MigrateAsync(default);
    }

    public virtual async Task DisposeAsync() => await Store.DisposeAsync();

    [Fact]
    public async Task Migrations_are_idempotent()
    {
        await Store.MigrateAsync(default);
        await using var second = OpenStore();
        await second.MigrateAsync(default);
        Assert.True(await Store.InsertUserAsync(User("t1", "u1"), default));
    }

    [Fact]
    public async Task Users_insert_get_and_update_with_optimistic_concurrency()
    {
        var user = User("t1", "u1") with
        {
            Identification = new Identification(IdentificationMethod.VideoIdent, T0, T0.AddYears(2)),
        };
        Assert.True(await Store.InsertUserAsync(user, default));
        Assert.False(await Store.InsertUserAsync(user with { GivenName = "Other" }, default));

        var stored = await Store.GetUserAsync("t1", "u1", default);
        Assert.NotNull(stored);
        Assert.Equal(user with { Version = 1 }, stored);

        var changed = stored with { Phone = "+4915100000002", IdentificationStale = true, UpdatedAt = T0.AddMinutes(1) };
        Assert.True(await Store.UpdateUserAsync(changed, expectedVersion: 1, default));
        Assert.False(await Store.UpdateUserAsync(changed with { Phone = "+4915100000003" }, expectedVersion: 1, default));

        var after = await Store.GetUserAsync("t1", "u1", default);
        Assert.Equal(changed with { Version = 2 }, after);
    }

    [Fact]
    public async Task Another_tenants_records_are_missing_and_untouchable()
    {
        await Store.InsertUserAsync(User("t1", "u1"), default);
        var credential = Credential("t1", "u1", "c1", "01");
        await Store.InsertCredentialAsync(credential, default);

        Assert.Null(await Store.GetUserAsync("t2", "u1", default));
        Assert.Null(await Store.GetCredentialAsync("t2", "c1", default));
        Assert.Empty(await Store.ListCredentialsAsync("t2", null, false, null, 10, default));
        Assert.False(await Store.UpdateUserAsync(User("t2", "u1"), 1, default));
        Assert.False(await Store.UpdateCredentialAsync(credential with { Tenant = "t2", Status = CredentialStatus.Revoked }, 1, default));
        Assert.Null(await Store.TakePinAttemptAsync("t2", "c1", CredentialStatus.Valid, 5, T0, default));
        await Store.ResetWrongPinsAsync("t2", "c1", 5, T0, default);
        await Store.ReturnPinAttemptAsync("t2", "c1", 5, T0, default);

        var stored = await Store.GetCredentialAsync("t1", "c1", default);
        Assert.Equal(CredentialStatus.Valid, stored!.Status);
        Assert.Equal(1, stored.Version);
    }

    [Fact]
    public async Task Credentials_round_trip_every_field()
    {
        var credential = Credential("t1", "u1", "c1", "0a1b") with
        {
            Organisation = "ACME GmbH",
            Function = "Prokurist",
            Level = CredentialLevel.Advanced,
            OneFactorConsentAt = T0.AddSeconds(5),
            ActivatedAt = T0.AddSeconds(4),
            FailedPinCount = 2,
        };
        await Store.InsertCredentialAsync(credential, default);
        var stored = await Store.GetCredentialAsync("t1", "c1", default);
        Assert.NotNull(stored);
        AssertSame(credential with { SerialHex = "0A1B", Version = 1 }, stored);

        var duplicate = await Assert.ThrowsAsync<DTrustException>(
            () => Store.InsertCredentialAsync(credential with { SerialHex = "FF" }, default));
        Assert.False(duplicate.IsTransient);
    }

    [Fact]
    public async Task A_seal_round_trips_its_token_object_reference_and_callers_and_they_can_be_rebound()
    {
        var seal = Credential("t1", "org-1", "seal-1", "5EA1") with
        {
            Level = CredentialLevel.QualifiedSeal,
            Organisation = "Musterversicherung AG",
            Key = KeyVault.WrappedCredentialKey.TokenObject("seal-qualified", KeyVault.KeyAlgorithm.EcP256, [0x30, 0x01], "seal:seal-1"),
            SealCallers = ["caller-a", "caller-b"],
        };
        await Store.InsertCredentialAsync(seal, default);
        var stored = await Store.GetCredentialAsync("t1", "seal-1", default);
        AssertSame(seal with { Version = 1 }, stored!);
        Assert.True(stored!.Key.IsTokenObject && stored.Key.IsIntact());
        Assert.Equal("seal:seal-1", stored.Key.GetTokenObjectLabel());
        AssertSame(stored, (await Store.FindBySerialAsync(CredentialLevel.QualifiedSeal, "5EA1", default))!);
        Assert.Null(await Store.FindBySerialAsync(CredentialLevel.Qualified, "5EA1", default));

        Assert.True(await Store.UpdateCredentialAsync(stored with { SealCallers = ["caller-c"] }, 1, default));
        Assert.Equal(["caller-c"], (await Store.GetCredentialAsync("t1", "seal-1", default))!.SealCallers);
    }

    [Fact]
    public async Task Organisations_insert_get_and_update_per_tenant_with_optimistic_concurrency()
    {
        var organisation = new OrganisationRecord
        {
            Tenant = "t1",
            OrganisationId = "org-1",
            Name = "Musterversicherung AG",
            Country = "DE",
            Identifier = "NTRDE-HRB12345",
            Representative = "Max Mustermann",
            RepresentativeEvidence = "register extract 2026-11-30",
            RepresentativePhone = "+4930111111",
            EvidenceVerifiedAt = T0,
            CreatedAt = T0,
            UpdatedAt = T0,
            Version = 1,
        };
        Assert.True(await Store.InsertOrganisationAsync(organisation, default));
        Assert.False(await Store.InsertOrganisationAsync(organisation with { Name = "Other" }, default));
        Assert.Equal(organisation, await Store.GetOrganisationAsync("t1", "org-1", default));
        Assert.Null(await Store.GetOrganisationAsync("t2", "org-1", default));

        // One organisation per register entry, in every tenant.
        Assert.False(await Store.InsertOrganisationAsync(organisation with { Tenant = "t2", OrganisationId = "copy" }, default));
        Assert.Equal(organisation, await Store.FindOrganisationByIdentifierAsync("NTRDE-HRB12345", default));
        Assert.Null(await Store.FindOrganisationByIdentifierAsync("NTRDE-HRB99999", default));

        var renamed = organisation with { Name = "Musterversicherung SE", RepresentativePhone = "+4930222222", UpdatedAt = T0.AddMinutes(1) };
        Assert.True(await Store.UpdateOrganisationAsync(renamed, 1, default));
        Assert.False(await Store.UpdateOrganisationAsync(renamed with { Name = "Stale" }, 1, default));
        Assert.False(await Store.UpdateOrganisationAsync(renamed with { Tenant = "t2" }, 2, default));
        Assert.Equal(renamed with { Version = 2 }, await Store.GetOrganisationAsync("t1", "org-1", default));
    }

    [Fact]
    public async Task Credentials_list_pages_by_id_and_filters_by_holder_and_status()
    {
        for (var i = 0; i < 7; i++)
        {
            await Store.InsertCredentialAsync(Credential("t1", i % 2 == 0 ? "even" : "odd", $"c{i}", $"{i + 1:X2}") with
            {
                Status = i == 2 ? CredentialStatus.Revoked : CredentialStatus.Valid,
            }, default);
        }

        await Store.InsertCredentialAsync(Credential("t2", "even", "x0", "F0"), default);

        var page1 = await Store.ListCredentialsAsync("t1", null, false, null, 3, default);
        var page2 = await Store.ListCredentialsAsync("t1", null, false, page1[^1].Id, 3, default);
        var page3 = await Store.ListCredentialsAsync("t1", null, false, page2[^1].Id, 3, default);
        Assert.Equal(["c0", "c1", "c2", "c3", "c4", "c5", "c6"], page1.Concat(page2).Concat(page3).Select(c => c.Id));
        Assert.Equal(["c0", "c2", "c4", "c6"], (await Store.ListCredentialsAsync("t1", "even", false, null, 10, default)).Select(c => c.Id));
        Assert.Equal(["c0", "c4", "c6"], (await Store.ListCredentialsAsync("t1", "even", true, null, 10, default)).Select(c => c.Id));
        Assert.Equal(["c4", "c6"], (await Store.ListCredentialsAsync("t1", "even", true, "c0", 10, default)).Select(c => c.Id));
    }

    [Fact]
    public async Task Credential_update_needs_the_current_version()
    {
        var credential = Credential("t1", "u1", "c1", "01") with { Status = CredentialStatus.NotActivated };
        await Store.InsertCredentialAsync(credential, default);

        // Activation re-wraps the key under the holder's PIN: the new key fields must be what is stored.
        var rewrapped = credential.Key with { Salt = RandomNumberGenerator.GetBytes(16), Blob = RandomNumberGenerator.GetBytes(120) };
        var activated = credential with
        {
            Status = CredentialStatus.Valid,
            Key = rewrapped,
            ActivatedAt = T0.AddHours(1),
            UpdatedAt = T0.AddHours(1),
        };
        Assert.True(await Store.UpdateCredentialAsync(activated, 1, default));
        Assert.False(await Store.UpdateCredentialAsync(activated with { Status = CredentialStatus.Revoked }, 1, default));

        var stored = await Store.GetCredentialAsync("t1", "c1", default);
        Assert.Equal(CredentialStatus.Valid, stored!.Status);
        Assert.Equal(2, stored.Version);
        Assert.Equal(T0.AddHours(1), stored.UpdatedAt);
        Assert.Equal(T0.AddHours(1), stored.ActivatedAt);
        AssertSame(activated with { Version = 2 }, stored);
    }

    [Fact]
    public async Task Concurrent_pin_attempts_never_exceed_the_limit_and_the_last_one_locks()
    {
        await Store.InsertCredentialAsync(Credential("t1", "u1", "c1", "01") with { ActivatedAt = T0 }, default);

        // Two engines, as two nodes: 40 attempts at once, 5 may be taken.
        await using var second = OpenStore();
        var results = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            Task.Run(() => (i % 2 == 0 ? Store : second).TakePinAttemptAsync("t1", "c1", CredentialStatus.Valid, 5, T0, default))));

        var taken = results.Where(r => r is not null).Select(r => r!.Value).ToList();
        Assert.Equal(Enumerable.Range(1, 5), taken.Select(r => r.FailedPins).Order());
        Assert.Equal(CredentialStatus.Locked, taken.Single(r => r.FailedPins == 5).Status);
        Assert.All(taken.Where(r => r.FailedPins < 5), r => Assert.Equal(CredentialStatus.Valid, r.Status));
        var stored = await Store.GetCredentialAsync("t1", "c1", default);
        Assert.Equal((5, CredentialStatus.Locked, 6L), (stored!.FailedPinCount, stored.Status, stored.Version));
        Assert.Null(await Store.TakePinAttemptAsync("t1", "c1", CredentialStatus.Locked, 5, T0, default));
        Assert.Null(await Store.TakePinAttemptAsync("t1", "missing", CredentialStatus.Valid, 5, T0, default));
    }

    [Fact]
    public async Task Crl_numbers_only_increase_per_level_and_the_latest_is_what_every_node_reads()
    {
        PublishedCrl Crl(CredentialLevel level, long number) =>
            new(level, number, T0, T0.AddHours(24), [(byte)number, 0x30, 0x82]);

        Assert.Null(await Store.GetLatestCrlAsync(CredentialLevel.Qualified, default));
        Assert.True(await Store.InsertCrlAsync(Crl(CredentialLevel.Qualified, 100), default));

        // The same number from a second node, or a lower one from a node behind: refused.
        Assert.False(await Store.InsertCrlAsync(Crl(CredentialLevel.Qualified, 100), default));
        Assert.False(await Store.InsertCrlAsync(Crl(CredentialLevel.Qualified, 99), default));
        Assert.True(await Store.InsertCrlAsync(Crl(CredentialLevel.Simple, 1), default));
        Assert.True(await Store.InsertCrlAsync(Crl(CredentialLevel.Qualified, 105), default));

        // Two nodes racing for the next number: exactly one wins.
        var race = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            Task.Run(() => Store.InsertCrlAsync(Crl(CredentialLevel.Qualified, 106), default))));
        Assert.Single(race, won => won);

        var latest = await Store.GetLatestCrlAsync(CredentialLevel.Qualified, default);
        Assert.Equal((106L, T0, T0.AddHours(24)), (latest!.Number, latest.ThisUpdate, latest.NextUpdate));
        Assert.Equal(Crl(CredentialLevel.Qualified, 106).Der, latest.Der);
        Assert.Equal(1, (await Store.GetLatestCrlAsync(CredentialLevel.Simple, default))!.Number);
        Assert.Null(await Store.GetLatestCrlAsync(CredentialLevel.Advanced, default));
    }

    [Fact]
    public async Task Concurrent_wrong_codes_are_all_counted_per_day_and_reset_clears_them()
    {
        Assert.Equal(0, await Store.WrongCodesTodayAsync("t1", "c1", T0, default));

        // Several nodes counting at once lose nothing (the first insert races the updates).
        var counts = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            Task.Run(() => Store.RecordWrongCodeAsync("t1", "c1", voided: i % 3 == 2, T0, default))));
        Assert.Equal(Enumerable.Range(1, 20), counts.Order());
        Assert.Equal(20, await Store.WrongCodesTodayAsync("t1", "c1", T0.AddHours(1), default));

        // Per tenant and credential; the next UTC day starts again.
        Assert.Equal(0, await Store.WrongCodesTodayAsync("t2", "c1", T0, default));
        Assert.Equal(0, await Store.WrongCodesTodayAsync("t1", "c2", T0, default));
        var tomorrow = T0.UtcDateTime.Date.AddDays(1);
        Assert.Equal(0, await Store.WrongCodesTodayAsync("t1", "c1", tomorrow, default));
        Assert.Equal(1, await Store.RecordWrongCodeAsync("t1", "c1", voided: false, tomorrow, default));

        await Store.ResetWrongCodesAsync("t2", "c1", default);
        Assert.Equal(1, await Store.WrongCodesTodayAsync("t1", "c1", tomorrow, default));
        await Store.ResetWrongCodesAsync("t1", "c1", default);
        Assert.Equal(0, await Store.WrongCodesTodayAsync("t1", "c1", tomorrow, default));
    }

    [Fact]
    public async Task Pin_attempts_need_the_expected_status_and_lock_a_credential_never_activated_too()
    {
        await Store.InsertCredentialAsync(Credential("t1", "u1", "c1", "01") with { Status = CredentialStatus.Revoked }, default);
        await Store.InsertCredentialAsync(Credential("t1", "u1", "c2", "02") with { Status = CredentialStatus.NotActivated }, default);

        Assert.Null(await Store.TakePinAttemptAsync("t1", "c1", CredentialStatus.Valid, 5, T0, default));
        Assert.Null(await Store.TakePinAttemptAsync("t1", "c2", CredentialStatus.Valid, 5, T0, default));
        Assert.Equal((1, CredentialStatus.NotActivated), await Store.TakePinAttemptAsync("t1", "c2", CredentialStatus.NotActivated, 2, T0, default));
        Assert.Equal((2, CredentialStatus.Locked), await Store.TakePinAttemptAsync("t1", "c2", CredentialStatus.NotActivated, 2, T0, default));

        // A device fault gives its attempt back: below the limit again, back to NOT_ACTIVATED (never activated).
        await Store.ReturnPinAttemptAsync("t1", "c2", 2, T0, default);
        var returned = await Store.GetCredentialAsync("t1", "c2", default);
        Assert.Equal((1, CredentialStatus.NotActivated), (returned!.FailedPinCount, returned.Status));
    }

    [Fact]
    public async Task The_right_pin_resets_the_count_and_lifts_a_pin_lock_only()
    {
        await Store.InsertCredentialAsync(Credential("t1", "u1", "c1", "01") with { ActivatedAt = T0 }, default);
        await Store.InsertCredentialAsync(Credential("t1", "u1", "c2", "02") with { ActivatedAt = T0 }, default);
        for (var i = 0; i < 3; i++)
        {
            await Store.TakePinAttemptAsync("t1", "c1", CredentialStatus.Valid, 3, T0, default);
        }

        await Store.ResetWrongPinsAsync("t1", "c1", 3, T0.AddSeconds(1), default);
        var reset = await Store.GetCredentialAsync("t1", "c1", default);
        Assert.Equal((0, CredentialStatus.Valid, 5L), (reset!.FailedPinCount, reset.Status, reset.Version));

        // Already zero: nothing is written, so a concurrent update's version stays valid.
        await Store.ResetWrongPinsAsync("t1", "c1", 3, T0.AddSeconds(2), default);
        Assert.Equal(5, (await Store.GetCredentialAsync("t1", "c1", default))!.Version);

        // Revoked while the attempt was in the HSM: the revocation stands.
        await Store.TakePinAttemptAsync("t1", "c2", CredentialStatus.Valid, 3, T0, default);
        var c2 = (await Store.GetCredentialAsync("t1", "c2", default))!;
        Assert.True(await Store.UpdateCredentialAsync(c2 with { Status = CredentialStatus.RevocationInProgress }, c2.Version, default));
        await Store.ResetWrongPinsAsync("t1", "c2", 3, T0, default);
        await Store.ReturnPinAttemptAsync("t1", "c2", 3, T0, default);
        var revoked = await Store.GetCredentialAsync("t1", "c2", default);
        Assert.Equal((1, CredentialStatus.RevocationInProgress), (revoked!.FailedPinCount, revoked.Status));

        // Locked for another reason (the daily cap of wrong codes) while a PIN attempt was in the HSM: neither the
        // right PIN nor a device fault's give-back lifts that lock.
        await Store.InsertCredentialAsync(Credential("t1", "u1", "c3", "03") with { ActivatedAt = T0 }, default);
        await Store.TakePinAttemptAsync("t1", "c3", CredentialStatus.Valid, 3, T0, default);
        await Store.TakePinAttemptAsync("t1", "c3", CredentialStatus.Valid, 3, T0, default);
        var c3 = (await Store.GetCredentialAsync("t1", "c3", default))!;
        Assert.True(await Store.UpdateCredentialAsync(c3 with { Status = CredentialStatus.Locked }, c3.Version, default));
        await Store.ReturnPinAttemptAsync("t1", "c3", 3, T0, default);
        Assert.Equal((1, CredentialStatus.Locked), Pins(await Store.GetCredentialAsync("t1", "c3", default)));
        await Store.ResetWrongPinsAsync("t1", "c3", 3, T0, default);
        Assert.Equal((0, CredentialStatus.Locked), Pins(await Store.GetCredentialAsync("t1", "c3", default)));
    }

    private static (int, CredentialStatus) Pins(CredentialRecord? c) => (c!.FailedPinCount, c.Status);

    [Fact]
    public async Task Revoked_certificates_are_listed_per_level_and_found_by_serial()
    {
        await Store.InsertCredentialAsync(Credential("t1", "u1", "c1", "0A") with
        {
            Status = CredentialStatus.Revoked,
            RevokedAt = T0.AddDays(1),
            RevocationReason = 1,
        }, default);
        await Store.InsertCredentialAsync(Credential("t2", "u2", "c2", "0B") with
        {
            Status = CredentialStatus.RevocationInProgress,
            RevokedAt = T0.AddDays(2),
            RevocationReason = 4,
        }, default);
        await Store.InsertCredentialAsync(Credential("t1", "u1", "c3", "0C"), default);
        await Store.InsertCredentialAsync(Credential("t1", "u1", "c4", "0D") with
        {
            Level = CredentialLevel.Advanced,
            Status = CredentialStatus.Revoked,
            RevokedAt = T0,
            RevocationReason = 0,
        }, default);

        Assert.Equal(
            [new RevokedCertificate("0A", T0.AddDays(1), 1), new RevokedCertificate("0B", T0.AddDays(2), 4)],
            await Store.ListRevokedAsync(CredentialLevel.Qualified, default));
        Assert.Equal([new RevokedCertificate("0D", T0, 0)], await Store.ListRevokedAsync(CredentialLevel.Advanced, default));
        Assert.Equal(["c2"], (await Store.ListRevocationsInProgressAsync(default)).Select(c => c.Id));

        Assert.Equal("c2", (await Store.FindBySerialAsync(CredentialLevel.Qualified, "0b", default))?.Id);
        Assert.Null(await Store.FindBySerialAsync(CredentialLevel.Advanced, "0B", default));
        Assert.Null(await Store.FindBySerialAsync(CredentialLevel.Qualified, "FF", default));
    }

    [Fact]
    public async Task Callers_are_unique_by_hash_found_listed_and_revoked()
    {
        var hash = SHA256.HashData("key-1"u8);
        var caller = new CallerRecord
        {
            Id = "op1",
            Tenant = "t1",
            Name = "Operator",
            Role = CallerRole.Operator,
            CredentialHash = hash,
            CreatedAt = T0,
        };
        Assert.True(await Store.InsertCallerAsync(caller, default));
        Assert.False(await Store.InsertCallerAsync(caller with { Id = "op2" }, default));
        Assert.True(await Store.InsertCallerAsync(caller with
        {
            Id = "p1",
            Role = CallerRole.Partner,
            CredentialHash = SHA256.HashData("key-2"u8),
        }, default));

        var found = await Store.FindCallerAsync(SHA256.HashData("key-1"u8), default);
        Assert.Equal(("op1", "t1", CallerRole.Operator, T0, (DateTimeOffset?)null),
            (found!.Id, found.Tenant, found.Role, found.CreatedAt, found.RevokedAt));
        Assert.Equal(hash, found.CredentialHash);
        Assert.Null(await Store.FindCallerAsync(SHA256.HashData("nope"u8), default));
        Assert.Equal(hash, (await Store.GetCallerAsync("op1", default))!.CredentialHash);
        Assert.Null(await Store.GetCallerAsync("nobody", default));
        Assert.Equal(["op1", "p1"], (await Store.ListCallersAsync("t1", default)).Select(c => c.Id));
        Assert.Empty(await Store.ListCallersAsync("t2", default));

        Assert.False(await Store.RevokeCallerAsync("t2", "p1", T0, default));
        Assert.True(await Store.RevokeCallerAsync("t1", "p1", T0.AddDays(1), default));
        Assert.True(await Store.RevokeCallerAsync("t1", "p1", T0.AddDays(2), default));
        Assert.Equal(T0.AddDays(1), (await Store.FindCallerAsync(SHA256.HashData("key-2"u8), default))!.RevokedAt);
    }

    [Fact]
    public async Task Audit_entries_list_per_tenant_credential_and_action_in_sequence_order()
    {
        var mine = await Store.AppendAsync(Event(1) with { CredentialId = "list-c1", Details = "{\"k\":1}" }, default);
        await Store.AppendAsync(Event(2) with { CredentialId = "list-c1", Action = "signature.authorized" }, default);
        await Store.AppendAsync(Event(3) with { CredentialId = "list-c1", Tenant = "list-other" }, default);
        var later = await Store.AppendAsync(Event(4) with { CredentialId = "list-c1" }, default);

        var listed = await Store.ListEntriesAsync("t1", "list-c1", "signature.created", 0, 10, default);
        Assert.Equal([mine.Sequence, later.Sequence], listed.Select(e => e.Sequence));
        Assert.Equal("{\"k\":1}", listed[0].Event.Details);
        Assert.Equal(mine.Hash, listed[0].Hash);
        Assert.Equal([later.Sequence], (await Store.ListEntriesAsync("t1", "list-c1", null, mine.Sequence + 1, 10, default)).Select(e => e.Sequence));
        Assert.Single(await Store.ListEntriesAsync("list-other", null, null, 0, 10, default));
        Assert.Single(await Store.ListEntriesAsync("t1", "list-c1", "signature.created", 0, 1, default));
    }

    [Fact]
    public async Task Concurrent_appends_share_commits_and_form_one_verifiable_chain()
    {
        var commitsBefore = Store.AuditCommits;
        var entries = await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            Task.Run(() => Store.AppendAsync(Event(i), default))));

        Assert.Equal(Enumerable.Range(1, 200).Select(i => (long)i), entries.Select(e => e.Sequence).Order());
        var commits = Store.AuditCommits - commitsBefore;
        Output.WriteLine($"{Store.EngineName}: 200 concurrent appends in {commits} commits");
        Assert.InRange(commits, 1, 199);

        var stored = await Store.ReadAllAsync(default).ToListAsync();
        Assert.Equal(200, stored.Count);
        foreach (var e in entries)
        {
            var s = stored[(int)e.Sequence - 1];
            Assert.Equal(e.Hash, s.Hash);
            Assert.Equal(e.Event with { UsageLevel = null, UsageCount = 0 }, s.Event);
        }

        Assert.Equal(new AuditVerification(true, 200, null, null), await AuditChain.VerifyAsync(Store.ReadAllAsync(default)));
    }

    [Fact]
    public async Task The_first_entry_links_to_zeros_and_times_keep_microseconds()
    {
        var time = T0.AddTicks(1_234_567); // 123456.7 µs: the tenth of a microsecond is not kept
        var entry = await Store.AppendAsync(Event(0) with { Time = time, CredentialId = null, Details = null }, default);
        Assert.Equal(1, entry.Sequence);
        Assert.Equal(new byte[32], entry.PreviousHash);
        Assert.Equal(T0.AddTicks(1_234_560), entry.Event.Time);
        Assert.Equal(AuditChain.ComputeHash(1, new byte[32], entry.Event), entry.Hash);
        var stored = await Store.ReadAllAsync(default).SingleAsync();
        Assert.Equal(entry.Event with { UsageLevel = null, UsageCount = 0 }, stored.Event);
    }

    [Fact]
    public async Task Usage_grows_in_the_same_transaction_as_the_audit_entry()
    {
        var november = new DateTimeOffset(2026, 11, 30, 23, 59, 0, TimeSpan.Zero);
        var december = new DateTimeOffset(2026, 12, 1, 0, 30, 0, TimeSpan.FromHours(2)); // still November in UTC
        await Task.WhenAll(
            Store.AppendAsync(Event(1) with { Time = november, UsageLevel = CredentialLevel.Qualified, UsageCount = 3 }, default),
            Store.AppendAsync(Event(2) with { Time = december, UsageLevel = CredentialLevel.Qualified, UsageCount = 2 }, default),
            Store.AppendAsync(Event(3) with { Time = november.AddDays(1), UsageLevel = CredentialLevel.Simple, UsageCount = 1 }, default),
            Store.AppendAsync(Event(4) with { Time = november, UsageLevel = CredentialLevel.Advanced, UsageCount = 7, Tenant = "t2" }, default),
            Store.AppendAsync(Event(5) with { Time = november }, default));

        Assert.Equal(
            [new UsageRow("2026-11", CredentialLevel.Qualified, 5), new UsageRow("2026-12", CredentialLevel.Simple, 1)],
            await Store.GetUsageAsync("t1", null, default));
        Assert.Equal([new UsageRow("2026-12", CredentialLevel.Simple, 1)], await Store.GetUsageAsync("t1", "2026-12", default));
        Assert.Equal([new UsageRow("2026-11", CredentialLevel.Advanced, 7)], await Store.GetUsageAsync("t2", null, default));
    }

    [Fact]
    public async Task Two_nodes_on_one_database_append_to_one_chain()
    {
        await using var node2 = OpenStore();
        await Task.WhenAll(Enumerable.Range(0, 100).Select(i =>
            Task.Run(() => (i % 2 == 0 ? Store : node2).AppendAsync(Event(i), default))));

        var verification = await AuditChain.VerifyAsync(Store.ReadAllAsync(default));
        Assert.Equal(new AuditVerification(true, 100, null, null), verification);
    }

    [Fact]
    public async Task Cancelled_callers_do_not_break_the_chain()
    {
        using var cancelled = new CancellationTokenSource();
        var tasks = Enumerable.Range(0, 100).Select(i => Task.Run(async () =>
        {
            try
            {
                return await Store.AppendAsync(Event(i), i % 3 == 0 ? cancelled.Token : default);
            }
            catch (OperationCanceledException)
            {
                return null;
            }
        })).ToList();
        await cancelled.CancelAsync();
        var results = await Task.WhenAll(tasks);

        var verification = await AuditChain.VerifyAsync(Store.ReadAllAsync(default));
        Assert.True(verification.Intact);
        Assert.InRange(verification.Entries, results.Count(r => r is not null), 100);
        Assert.Equal(verification.Entries + 1, (await Store.AppendAsync(Event(1000), default)).Sequence);
    }

    [Fact]
    public async Task An_edited_entry_is_detected_as_changed()
    {
        await AppendManyAsync(10);
        await ExecuteSqlAsync("UPDATE audit_log SET outcome = 'ok-edited' WHERE seq = 5");
        Assert.Equal(new AuditVerification(false, 5, 5, "changed"), await AuditChain.VerifyAsync(Store.ReadAllAsync(default)));
    }

    [Fact]
    public async Task A_deleted_entry_is_detected_as_removed()
    {
        await AppendManyAsync(10);
        await ExecuteSqlAsync("DELETE FROM audit_log WHERE seq = 5");
        Assert.Equal(new AuditVerification(false, 5, 5, "removed"), await AuditChain.VerifyAsync(Store.ReadAllAsync(default)));
    }

    [Fact]
    public async Task Swapped_entries_are_detected_at_the_first_of_them()
    {
        await AppendManyAsync(10);
        await ExecuteSqlAsync(
            "UPDATE audit_log SET seq = -4 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = 7; " +
            "UPDATE audit_log SET seq = 7 WHERE seq = -4;");
        var verification = await AuditChain.VerifyAsync(Store.ReadAllAsync(default));
        Assert.False(verification.Intact);
        Assert.Equal(4, verification.FirstBadSequence);
        Assert.True(verification.Problem is "reordered" or "changed", verification.Problem);
    }

    [Fact]
    public async Task An_unreachable_database_is_unavailable_and_the_audit_writer_recovers_its_loop()
    {
        await using var broken = OpenUnreachableStore();
        var read = await Assert.ThrowsAsync<DTrustException>(() => broken.GetCredentialAsync("t1", "c1", default));
        Assert.Equal(ErrorKind.Unavailable, read.Kind);

        // Each batch fails on its own; the writer keeps serving later appends instead of dying with the first.
        for (var i = 0; i < 2; i++)
        {
            var append = await Assert.ThrowsAsync<DTrustException>(() => broken.AppendAsync(Event(i), default));
            Assert.Equal(ErrorKind.Unavailable, append.Kind);
            Assert.DoesNotContain("Password", append.Message, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public async Task Appends_per_second_with_group_commit_and_with_one_commit_each()
    {
        // A measurement for the report, not an assertion. One commit per append is measured on fewer appends: at the
        // disk's commit rate it would dominate the run's time.
        await using var single = OpenStore(auditBatchSize: 1);
        foreach (var (name, store, count) in new[] { ("group commit", Store, 1000), ("one commit per append", single, 200) })
        {
            var sw = Stopwatch.StartNew();
            var before = store.AuditCommits;
            await Task.WhenAll(Enumerable.Range(0, count).Select(i => Task.Run(() => store.AppendAsync(Event(i), default))));
            sw.Stop();
            Output.WriteLine($"{Store.EngineName}, {name}: {count} concurrent appends in {store.AuditCommits - before} commits, " +
                $"{sw.Elapsed.TotalMilliseconds:F0} ms, {count / sw.Elapsed.TotalSeconds:F0} appends/s");
        }

        Assert.True((await AuditChain.VerifyAsync(Store.ReadAllAsync(default))).Intact);
    }

    protected async Task AppendManyAsync(int count)
    {
        for (var i = 0; i < count; i++)
        {
            await Store.AppendAsync(Event(i), default);
        }
    }

    protected static AuditEvent Event(int i) => new()
    {
        Time = T0.AddMilliseconds(i),
        Actor = "op1",
        Tenant = "t1",
        CredentialId = i % 5 == 0 ? null : $"c{i}",
        Action = "signature.created",
        Outcome = "ok",
        Details = i % 7 == 0 ? null : $$"""{"n":{{i}}}""",
    };

    protected static UserRecord User(string tenant, string id) => new()
    {
        Tenant = tenant,
        UserId = id,
        GivenName = "Erika",
        Surname = "Mustermann",
        Country = "DE",
        Phone = "+4915100000001",
        CreatedAt = T0,
        UpdatedAt = T0,
    };

    protected static CredentialRecord Credential(string tenant, string user, string id, string serial) => new()
    {
        Id = id,
        Tenant = tenant,
        UserId = user,
        Level = CredentialLevel.Qualified,
        Algorithm = KeyAlgorithm.EcP256,
        Status = CredentialStatus.Valid,
        Certificate = RandomNumberGenerator.GetBytes(64),
        SerialHex = serial,
        NotAfter = T0.AddYears(5),
        Key = new WrappedCredentialKey("qualified", KeyAlgorithm.EcP256, RandomNumberGenerator.GetBytes(91),
            RandomNumberGenerator.GetBytes(16), RandomNumberGenerator.GetBytes(120), RandomNumberGenerator.GetBytes(32)),
        CreatedAt = T0,
        UpdatedAt = T0,
    };

    private static void AssertSame(CredentialRecord expected, CredentialRecord actual)
    {
        // Records compare arrays by reference; compare them by content, the rest with record equality.
        Assert.Equal(expected.Certificate, actual.Certificate);
        Assert.Equal(expected.Key.SubjectPublicKeyInfo, actual.Key.SubjectPublicKeyInfo);
        Assert.Equal(expected.Key.Salt, actual.Key.Salt);
        Assert.Equal(expected.Key.Blob, actual.Key.Blob);
        Assert.Equal(expected.Key.BlobDigest, actual.Key.BlobDigest);
        Assert.Equal((expected.Key.Domain, expected.Key.Algorithm), (actual.Key.Domain, actual.Key.Algorithm));
        Assert.Equal(expected.SealCallers, actual.SealCallers);
        Assert.Equal(expected with { Certificate = [], Key = null!, SealCallers = [] }, actual with { Certificate = [], Key = null!, SealCallers = [] });
    }
}
