using DTrust.SigningServer.Errors;
using DTrust.Store;

namespace DTrust.SigningServer.Credentials;

/// <summary>
/// Inclusion proofs of audit entries in the Merkle tree a checkpoint signs: an auditor holding one checkpoint and one
/// signature's entry checks that the entry is in the log the checkpoint vouches for, without the rest of the log.
/// </summary>
public sealed class AuditProofs(IAuditLog log)
{
    /// <summary>The entry, its audit path in the tree over the first <paramref name="treeSize"/> entries, and that tree's root.</summary>
    public async Task<(AuditEntry Entry, IReadOnlyList<byte[]> Path, byte[] Root)> ProveAsync(
        CallerRecord caller, long sequence, long treeSize, CancellationToken ct)
    {
        if (sequence < 1 || treeSize < sequence)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "sequence must be at least 1 and tree_size at least the sequence");
        }

        // Every leaf up to the tree's size: O(n) hashes read, fine for an auditor's question, not for a hot path.
        var leaves = new List<byte[]>();
        AuditEntry? wanted = null;
        await foreach (var entry in log.ReadAllAsync(ct))
        {
            if (entry.Sequence > treeSize)
            {
                break;
            }

            leaves.Add(AuditHashes.Leaf(entry.Hash));
            if (entry.Sequence == sequence)
            {
                wanted = entry;
            }
        }

        // Another tenant's entry is not found, like a missing one (and before anything about the whole log is said).
        if (wanted is null || wanted.Event.Tenant != caller.Tenant)
        {
            throw new DTrustException(ErrorKind.NotFound, "audit entry not found");
        }

        if (leaves.Count < treeSize)
        {
            throw new DTrustException(ErrorKind.FailedPrecondition, "the audit chain is shorter than tree_size");
        }

        return (wanted, AuditHashes.InclusionPath(sequence - 1, leaves), AuditHashes.Root(leaves));
    }
}
