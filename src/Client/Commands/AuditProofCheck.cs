using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using DTrust.Signing.V1;

namespace DTrust.Client.Commands;

/// <summary>
/// Checks an inclusion proof with nothing from the server but the entry's fields and the path: the entry hash is
/// recomputed here from its fields (the documented encoding, written again on this side so the check does not rest
/// on the server's code), then the RFC 9162 root from the leaf and the path, compared with the signed checkpoint's.
/// </summary>
internal static class AuditProofCheck
{
    private static readonly byte[] EntryContext = Encoding.ASCII.GetBytes("DTrust audit entry v1");

    /// <summary>What is wrong with the proof against the checkpoint's <paramref name="root"/> and size, or null when it holds.</summary>
    public static string? Problem(AuditInclusionProof proof, long sequence, long treeSize, byte[] root)
    {
        var e = proof.Entry;
        if (e is null || e.Sequence != sequence)
        {
            // A valid proof of another entry proves nothing about this one.
            return $"the server answered with entry {e?.Sequence}, not {sequence}";
        }

        var micros = (e.Time.ToDateTimeOffset().UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / TimeSpan.TicksPerMicrosecond;
        var hash = EntryHash(e.Sequence, e.PreviousHash.Span, micros, e.Actor, proof.Tenant, e.CredentialId, e.Action, e.Outcome, e.DetailsJson);
        if (!hash.AsSpan().SequenceEqual(e.Hash.Span))
        {
            return $"entry {e.Sequence}: its fields do not hash to the hash the server sent";
        }

        if (proof.TreeSize != treeSize)
        {
            return $"the proof is for a tree of {proof.TreeSize} entries, the checkpoint has {treeSize}";
        }

        return VerifyInclusion(e.Sequence - 1, treeSize, Leaf(hash), [.. proof.Path.Select(p => p.ToByteArray())], root)
            ? null
            : $"entry {e.Sequence} is not in the tree the checkpoint signed (the path does not lead to its merkle root)";
    }

    private static byte[] EntryHash(
        long sequence, ReadOnlySpan<byte> previous, long micros, string actor, string tenant, string credentialId, string action, string outcome, string details)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> number = stackalloc byte[8];
        h.AppendData(EntryContext);
        BinaryPrimitives.WriteInt64BigEndian(number, sequence);
        h.AppendData(number);
        Field(h, previous);
        BinaryPrimitives.WriteInt64BigEndian(number, micros);
        h.AppendData(number);
        foreach (var text in new[] { actor, tenant, credentialId, action, outcome, details })
        {
            Field(h, Encoding.UTF8.GetBytes(text));
        }

        return h.GetHashAndReset();
    }

    private static void Field(IncrementalHash h, ReadOnlySpan<byte> value)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, value.Length);
        h.AppendData(length);
        h.AppendData(value);
    }

    private static byte[] Leaf(byte[] entryHash) => SHA256.HashData([0, .. entryHash]);

    private static byte[] Node(byte[] left, byte[] right) => SHA256.HashData([1, .. left, .. right]);

    // RFC 9162 §2.1.3.2, step by step.
    private static bool VerifyInclusion(long index, long size, byte[] leaf, byte[][] path, byte[] root)
    {
        if (index < 0 || index >= size)
        {
            return false;
        }

        long fn = index, sn = size - 1;
        var r = leaf;
        foreach (var p in path)
        {
            if (sn == 0 || p.Length != 32)
            {
                return false;
            }

            if ((fn & 1) == 1 || fn == sn)
            {
                r = Node(p, r);
                while ((fn & 1) == 0 && fn != 0)
                {
                    fn >>= 1;
                    sn >>= 1;
                }
            }
            else
            {
                r = Node(r, p);
            }

            fn >>= 1;
            sn >>= 1;
        }

        return sn == 0 && CryptographicOperations.FixedTimeEquals(r, root);
    }
}
