using System.Security.Cryptography;

namespace DTrust.Store.Tests;

/// <summary>The RFC 9162 Merkle tree over audit entry hashes: known answers, every inclusion proof, and what a proof refuses.</summary>
public sealed class AuditMerkleUnitTests
{
    // The inputs of the Certificate Transparency test vectors (RFC 6962 reference code); roots recomputed from the RFC's
    // definition with Python's hashlib, and equal to the published ones.
    private static readonly byte[][] Inputs =
    [
        [], [0x00], [0x10], [0x20, 0x21], [0x30, 0x31], [0x40, 0x41, 0x42, 0x43],
        [.. Enumerable.Range(0x50, 8).Select(b => (byte)b)], [.. Enumerable.Range(0x60, 16).Select(b => (byte)b)],
    ];

    private static byte[][] Leaves(int n) => [.. Inputs.Take(n).Select(d => SHA256.HashData([0, .. d]))];

    [Theory]
    [InlineData(1, "6E340B9CFFB37A989CA544E6BB780A2C78901D3FB33738768511A30617AFA01D")]
    [InlineData(3, "AEB6BCFE274B70A14FB067A5E5578264DB0FA9B51AF5E0BA159158F329E06E77")]
    [InlineData(5, "4E3BBB1F7B478DCFE71FB631631519A3BCA12C9AEFCA1612BFCE4C13A86264D4")]
    [InlineData(7, "DDB89BE403809E325750D3D263CD78929C2942B7942A34B77E122C9594A74C8C")]
    [InlineData(8, "5DC9DA79A70659A9AD559CB701DED9A2AB9D823AAD2F4960CFE370EFF4604328")]
    public void Roots_match_the_known_answers_and_the_frontier_agrees(int size, string root)
    {
        Assert.Equal(root, Convert.ToHexString(AuditHashes.Root(Leaves(size))));
        var frontier = new MerkleFrontier();
        foreach (var leaf in Leaves(size))
        {
            frontier.Append(leaf);
        }

        Assert.Equal(root, Convert.ToHexString(frontier.Root()));
    }

    [Fact]
    public void Every_leaf_of_every_tree_up_to_40_proves_and_nothing_else_does()
    {
        var leaves = Enumerable.Range(0, 40).Select(i => AuditHashes.Leaf(SHA256.HashData(BitConverter.GetBytes(i)))).ToArray();
        var frontier = new MerkleFrontier();
        for (var size = 1; size <= leaves.Length; size++)
        {
            var tree = leaves[..size];
            frontier.Append(tree[^1]);
            var root = AuditHashes.Root(tree);
            Assert.Equal(root, frontier.Root());
            for (var index = 0; index < size; index++)
            {
                var path = AuditHashes.InclusionPath(index, tree);
                Assert.True(AuditHashes.VerifyInclusion(index, size, tree[index], path, root), $"leaf {index} of {size}");

                // Another leaf, another index, a shortened path, a root of another size: refused.
                Assert.False(AuditHashes.VerifyInclusion(index, size, new byte[32], path, root));
                if (size > 1)
                {
                    Assert.False(AuditHashes.VerifyInclusion((index + 1) % size, size, tree[index], path, root));
                    Assert.False(AuditHashes.VerifyInclusion(index, size, tree[index], [.. path.Take(path.Count - 1)], root));
                    Assert.False(AuditHashes.VerifyInclusion(index, size - 1 == index ? size : size - 1, tree[index], path, AuditHashes.Root(tree[..^1])));
                }
            }
        }
    }
}
