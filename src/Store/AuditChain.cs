using System.Security.Cryptography;

namespace DTrust.Store;

/// <summary>Result of <see cref="AuditChain.VerifyAsync"/>.</summary>
/// <param name="Intact">True when every entry hashes to its stored hash and links to the one before it.</param>
/// <param name="Entries">Entries read (up to and including the first bad one).</param>
/// <param name="FirstBadSequence">The sequence where the chain breaks, or null when intact.</param>
/// <param name="Problem">"changed" (hash mismatch), "removed" (sequence gap), "reordered" (link or order broken); null when intact.</param>
public sealed record AuditVerification(bool Intact, long Entries, long? FirstBadSequence, string? Problem)
{
    /// <summary>The hash of the last entry read (the genesis hash for an empty chain).</summary>
    public byte[] LastHash { get; init; } = AuditChain.GenesisHash;

    /// <summary>The hashes of the entries at the sequences asked for (checkpoint sizes) that the chain reached.</summary>
    public IReadOnlyDictionary<long, byte[]> HashesAt { get; init; } = new Dictionary<long, byte[]>();

    /// <summary>Signatures per (tenant, month, level) recounted from the signature entries' hashed details.</summary>
    public IReadOnlyDictionary<(string Tenant, string Month, string Level), long> Usage { get; init; } =
        new Dictionary<(string Tenant, string Month, string Level), long>();

    /// <summary>Signature entries written before their details named the level: usage cannot be recounted while there are any.</summary>
    public long SignaturesWithoutLevel { get; init; }

    public long SignaturesWithLevel { get; init; }

    /// <summary>Two verdicts are equal when they say the same: intact or where and why not (the walk's by-products aside).</summary>
    public bool Equals(AuditVerification? other) =>
        other is not null && (Intact, Entries, FirstBadSequence, Problem) == (other.Intact, other.Entries, other.FirstBadSequence, other.Problem);

    public override int GetHashCode() => HashCode.Combine(Intact, Entries, FirstBadSequence, Problem);
}

/// <summary>
/// The audit hash chain, independent of the engine: both stores hash with <see cref="ComputeHash"/>, and a chain read
/// from either verifies here. An entry's hash is SHA-256 over a length-prefixed encoding of its fields, so no two
/// different entries encode alike and the result does not depend on how a database stores text or time.
/// A missing tail is not detectable from the entries alone; a gap, an edit or a reordering is.
/// </summary>
public static class AuditChain
{
    public const int HashSize = 32;


    /// <summary>The previous hash of the first entry.</summary>
    public static byte[] GenesisHash => new byte[HashSize];

    /// <summary>Unix microseconds: the chain's time precision (PostgreSQL's too), so a stored time hashes the same.</summary>
    public static long ToUnixMicroseconds(DateTimeOffset time) =>
        (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;

    public static DateTimeOffset FromUnixMicroseconds(long microseconds) =>
        new(DateTimeOffset.UnixEpoch.UtcTicks + (microseconds * TimeSpan.TicksPerMicrosecond), TimeSpan.Zero);

    public static byte[] ComputeHash(long sequence, ReadOnlySpan<byte> previousHash, AuditEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return AuditHashes.Entry(sequence, previousHash, ToUnixMicroseconds(e.Time), e.Actor, e.Tenant, e.CredentialId, e.Action, e.Outcome, e.Details);
    }

    /// <summary>Walks the chain in the order given (a store's <see cref="IAuditLog.ReadAllAsync"/>) and reports the first break.</summary>
    public static Task<AuditVerification> VerifyAsync(IAsyncEnumerable<AuditEntry> entries, CancellationToken ct = default) =>
        VerifyAsync(entries, null, ct);

    /// <summary>
    /// Whether <paramref name="entries"/> (read after <paramref name="fromSequence"/> − 1) lead from the entry
    /// <paramref name="fromSequence"/> with hash <paramref name="fromHash"/> (0 and the genesis hash for the start)
    /// to <paramref name="toSequence"/> with <paramref name="toHash"/>, every link and hash intact. Answers the problem, or null.
    /// </summary>
    public static async Task<string?> ExtendsAsync(
        IAsyncEnumerable<AuditEntry> entries, long fromSequence, byte[] fromHash, long toSequence, byte[] toHash, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var previous = fromSequence == 0 ? GenesisHash : null;
        var expected = fromSequence == 0 ? 1 : fromSequence;
        await foreach (var entry in entries.WithCancellation(ct))
        {
            if (entry.Sequence != expected)
            {
                return $"entry {expected} is missing";
            }

            if (!CryptographicOperations.FixedTimeEquals(entry.Hash, ComputeHash(entry.Sequence, entry.PreviousHash, entry.Event)))
            {
                return $"entry {entry.Sequence} was changed";
            }

            if (previous is null)
            {
                // The first entry read is the one the last checkpoint ended at.
                if (!CryptographicOperations.FixedTimeEquals(entry.Hash, fromHash))
                {
                    return $"entry {entry.Sequence} is not the one the last checkpoint signed";
                }
            }
            else if (!CryptographicOperations.FixedTimeEquals(entry.PreviousHash, previous))
            {
                return $"entry {entry.Sequence} does not link to entry {entry.Sequence - 1}";
            }

            previous = entry.Hash;
            expected++;
            if (entry.Sequence == toSequence)
            {
                return CryptographicOperations.FixedTimeEquals(entry.Hash, toHash) ? null : $"the head is not entry {toSequence}";
            }
        }

        return toSequence == 0 && fromSequence == 0 ? null : $"the chain ends before entry {toSequence}";
    }

    /// <param name="entries">The chain in sequence order.</param>
    /// <param name="hashesAt">Sequences whose entry hashes to keep (the sizes of checkpoints to compare with).</param>
    /// <param name="ct">Stops the walk.</param>
    public static async Task<AuditVerification> VerifyAsync(
        IAsyncEnumerable<AuditEntry> entries, IReadOnlyCollection<long>? hashesAt, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var kept = new Dictionary<long, byte[]>();
        var wanted = hashesAt is null ? null : new HashSet<long>(hashesAt);
        var usage = new Dictionary<(string Tenant, string Month, string Level), long>();
        long withoutLevel = 0;
        long withLevel = 0;
        long count = 0;
        long expected = 1;
        byte[] previous = GenesisHash;
        await foreach (var entry in entries.WithCancellation(ct))
        {
            count++;
            if (entry.Sequence > expected)
            {
                return new AuditVerification(false, count, expected, "removed");
            }

            // A sequence seen before, or an entry that does not link to its predecessor, was moved.
            if (entry.Sequence < expected || !CryptographicOperations.FixedTimeEquals(entry.PreviousHash, previous))
            {
                return new AuditVerification(false, count, entry.Sequence, "reordered");
            }

            if (!CryptographicOperations.FixedTimeEquals(entry.Hash, ComputeHash(entry.Sequence, entry.PreviousHash, entry.Event)))
            {
                return new AuditVerification(false, count, entry.Sequence, "changed");
            }

            previous = entry.Hash;
            expected = entry.Sequence + 1;
            if (wanted?.Contains(entry.Sequence) == true)
            {
                kept[entry.Sequence] = entry.Hash;
            }

            if (entry.Event is { Action: "signature.created", Outcome: "ok" })
            {
                if (LevelOf(entry.Event.Details) is ({ } level, var signatures))
                {
                    var key = (entry.Event.Tenant, entry.Event.Time.UtcDateTime.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture), level);
                    usage[key] = usage.GetValueOrDefault(key) + signatures;
                    withLevel++;
                }
                else
                {
                    withoutLevel++;
                }
            }
        }

        return new AuditVerification(true, count, null, null) { LastHash = previous, HashesAt = kept, Usage = usage, SignaturesWithoutLevel = withoutLevel, SignaturesWithLevel = withLevel };
    }

    /// <summary>
    /// The level a signature entry names and how many signatures it bills: one, or as many as a seal batch's
    /// <c>hashes</c> (what was signed, not a count written beside it); (null, 0) when it names no level.
    /// </summary>
    private static (string? Level, long Signatures) LevelOf(string? details)
    {
        if (details is null)
        {
            return (null, 0);
        }

        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(details);
            var root = doc.RootElement;
            if (root.ValueKind != System.Text.Json.JsonValueKind.Object || !root.TryGetProperty("level", out var level)
                || level.ValueKind != System.Text.Json.JsonValueKind.String)
            {
                return (null, 0);
            }

            var count = root.TryGetProperty("hashes", out var hashes) && hashes.ValueKind == System.Text.Json.JsonValueKind.Array
                ? Math.Max(1, hashes.GetArrayLength())
                : 1;
            return (level.GetString(), count);
        }
        catch (System.Text.Json.JsonException)
        {
            return (null, 0);
        }
    }
}
