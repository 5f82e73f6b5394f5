using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace DTrust.Store;

/// <summary>
/// The audit log's hashes, in one place for the server that writes them and the client that checks them without
/// trusting the server: the entry hash of the chain, and an RFC 9162 Merkle tree over the entry hashes (leaf
/// SHA-256(0x00 ‖ entry hash), node SHA-256(0x01 ‖ left ‖ right)) whose root a checkpoint signs, so that one
/// entry can be proven part of a checkpoint with log2(n) hashes instead of the whole log.
/// </summary>
public static class AuditHashes
{
    public const int HashSize = 32;

    private static readonly byte[] EntryContext = Encoding.ASCII.GetBytes("DTrust audit entry v1");

    /// <summary>SHA-256 over a length-prefixed encoding of the entry's fields (time in unix microseconds).</summary>
    public static byte[] Entry(
        long sequence, ReadOnlySpan<byte> previousHash, long timeMicroseconds, string actor, string tenant, string? credentialId,
        string action, string outcome, string? details)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> number = stackalloc byte[8];
        hash.AppendData(EntryContext);
        BinaryPrimitives.WriteInt64BigEndian(number, sequence);
        hash.AppendData(number);
        AppendField(hash, previousHash);
        BinaryPrimitives.WriteInt64BigEndian(number, timeMicroseconds);
        hash.AppendData(number);
        AppendField(hash, actor);
        AppendField(hash, tenant);
        AppendField(hash, credentialId ?? "");
        AppendField(hash, action);
        AppendField(hash, outcome);
        AppendField(hash, details ?? "");
        return hash.GetHashAndReset();
    }

    /// <summary>RFC 9162 §2.1.1 leaf hash of an entry hash.</summary>
    public static byte[] Leaf(ReadOnlySpan<byte> entryHash)
    {
        Span<byte> input = stackalloc byte[1 + HashSize];
        input[0] = 0;
        entryHash.CopyTo(input[1..]);
        return SHA256.HashData(input);
    }

    /// <summary>RFC 9162 §2.1.1 interior node.</summary>
    public static byte[] Node(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> input = stackalloc byte[1 + (2 * HashSize)];
        input[0] = 1;
        left.CopyTo(input[1..]);
        right.CopyTo(input[(1 + HashSize)..]);
        return SHA256.HashData(input);
    }

    /// <summary>The root of the tree over <paramref name="leaves"/> (MTH); SHA-256 of nothing for an empty tree.</summary>
    public static byte[] Root(IReadOnlyList<byte[]> leaves)
    {
        ArgumentNullException.ThrowIfNull(leaves);
        return leaves.Count == 0 ? SHA256.HashData([]) : Subtree(leaves, 0, leaves.Count);
    }

    /// <summary>RFC 9162 §2.1.3.1 inclusion proof (audit path) of leaf <paramref name="index"/> in the tree over <paramref name="leaves"/>.</summary>
    public static IReadOnlyList<byte[]> InclusionPath(long index, IReadOnlyList<byte[]> leaves)
    {
        ArgumentNullException.ThrowIfNull(leaves);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, leaves.Count);
        var path = new List<byte[]>();
        Path((int)index, leaves, 0, leaves.Count, path);
        return path;
    }

    /// <summary>
    /// RFC 9162 §2.1.3.2: whether <paramref name="path"/> proves leaf <paramref name="leaf"/> at <paramref name="index"/>
    /// in the tree of <paramref name="size"/> leaves whose root is <paramref name="root"/>.
    /// </summary>
    public static bool VerifyInclusion(long index, long size, ReadOnlySpan<byte> leaf, IReadOnlyList<byte[]> path, ReadOnlySpan<byte> root)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (index < 0 || index >= size)
        {
            return false;
        }

        long fn = index, sn = size - 1;
        var r = leaf.ToArray();
        foreach (var p in path)
        {
            if (sn == 0 || p.Length != HashSize)
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

    private static byte[] Subtree(IReadOnlyList<byte[]> leaves, int start, int count)
    {
        if (count == 1)
        {
            return leaves[start];
        }

        var k = LargestPowerOfTwoBelow(count);
        return Node(Subtree(leaves, start, k), Subtree(leaves, start + k, count - k));
    }

    private static void Path(int m, IReadOnlyList<byte[]> leaves, int start, int count, List<byte[]> path)
    {
        if (count == 1)
        {
            return;
        }

        var k = LargestPowerOfTwoBelow(count);
        if (m < k)
        {
            Path(m, leaves, start, k, path);
            path.Add(Subtree(leaves, start + k, count - k));
        }
        else
        {
            Path(m - k, leaves, start + k, count - k, path);
            path.Add(Subtree(leaves, start, k));
        }
    }

    /// <summary>The largest power of two smaller than <paramref name="n"/> (n ≥ 2).</summary>
    private static int LargestPowerOfTwoBelow(int n)
    {
        var k = 1;
        while (k << 1 < n)
        {
            k <<= 1;
        }

        return k;
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

/// <summary>
/// The right edge of a Merkle tree (RFC 9162) as leaves are appended: the roots of its perfect subtrees, largest
/// first, so that the root of the first <see cref="Size"/> leaves costs log2(n) hashes and no re-read of the log.
/// </summary>
public sealed class MerkleFrontier
{
    private readonly List<(byte[] Hash, int Height)> _subtrees = [];

    public long Size { get; private set; }

    public void Append(byte[] leaf)
    {
        ArgumentNullException.ThrowIfNull(leaf);
        var node = (Hash: leaf, Height: 0);
        while (_subtrees.Count > 0 && _subtrees[^1].Height == node.Height)
        {
            node = (AuditHashes.Node(_subtrees[^1].Hash, node.Hash), node.Height + 1);
            _subtrees.RemoveAt(_subtrees.Count - 1);
        }

        _subtrees.Add(node);
        Size++;
    }

    /// <summary>MTH of the leaves so far: the subtrees folded from the right.</summary>
    public byte[] Root()
    {
        if (_subtrees.Count == 0)
        {
            return SHA256.HashData([]);
        }

        var root = _subtrees[^1].Hash;
        for (var i = _subtrees.Count - 2; i >= 0; i--)
        {
            root = AuditHashes.Node(_subtrees[i].Hash, root);
        }

        return root;
    }
}
