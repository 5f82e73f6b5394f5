using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace DTrust.Store;

/// <summary>Result of <see cref="AuditChain.VerifyAsync"/>.</summary>
/// <param name="Intact">True when every entry hashes to its stored hash and links to the one before it.</param>
/// <param name="Entries">Entries read (up to and including the first bad one).</param>
/// <param name="FirstBadSequence">The sequence where the chain breaks, or null when intact.</param>
/// <param name="Problem">"changed" (hash mismatch), "removed" (sequence gap), "reordered" (link or order broken); null when intact.</param>
public sealed record AuditVerification(bool Intact, long Entries, long? FirstBadSequence, string? Problem);

/// <summary>
/// The audit hash chain, independent of the engine: both stores hash with <see cref="ComputeHash"/>, and a chain read
/// from either verifies here. An entry's hash is SHA-256 over a length-prefixed encoding of its fields, so no two
/// different entries encode alike and the result does not depend on how a database stores text or time.
/// A missing tail is not detectable from the entries alone; a gap, an edit or a reordering is.
/// </summary>
public static class AuditChain
{
    public const int HashSize = 32;

    private static readonly byte[] Context = Encoding.ASCII.GetBytes("DTrust audit entry v1");

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
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> number = stackalloc byte[8];
        hash.AppendData(Context);
        BinaryPrimitives.WriteInt64BigEndian(number, sequence);
        hash.AppendData(number);
        AppendField(hash, previousHash);
        BinaryPrimitives.WriteInt64BigEndian(number, ToUnixMicroseconds(e.Time));
        hash.AppendData(number);
        AppendField(hash, e.Actor);
        AppendField(hash, e.Tenant);
        AppendField(hash, e.CredentialId ?? "");
        AppendField(hash, e.Action);
        AppendField(hash, e.Outcome);
        AppendField(hash, e.Details ?? "");
        return hash.GetHashAndReset();
    }

    /// <summary>Walks the chain in the order given (a store's <see cref="IAuditLog.ReadAllAsync"/>) and reports the first break.</summary>
    public static async Task<AuditVerification> VerifyAsync(IAsyncEnumerable<AuditEntry> entries, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
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
        }

        return new AuditVerification(true, count, null, null);
    }

    private static void AppendField(IncrementalHash hash, string value) => AppendField(hash, Encoding.UTF8.GetBytes(value));

    // A length prefix keeps field boundaries unambiguous ("ab" + "c" differs from "a" + "bc").
    private static void AppendField(IncrementalHash hash, ReadOnlySpan<byte> value)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, value.Length);
        hash.AppendData(length);
        hash.AppendData(value);
    }
}
