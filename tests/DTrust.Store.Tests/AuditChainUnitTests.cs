using DTrust.Store;

namespace DTrust.Store.Tests;

/// <summary>The chain's encoding and verifier, without a database.</summary>
public sealed class AuditChainUnitTests
{
    private static readonly DateTimeOffset Time = DateTimeOffset.FromUnixTimeSeconds(1_780_000_000).AddTicks(1_234_560);

    private static readonly AuditEvent Sample = new()
    {
        Time = Time,
        Actor = "op1",
        Tenant = "t1",
        CredentialId = "c1",
        Action = "signature.created",
        Outcome = "ok",
        Details = """{"n":1}""",
    };

    [Fact]
    public void The_encoding_is_pinned_by_a_known_answer()
    {
        // Computed independently (Python, from the documented encoding): a change here breaks every stored chain.
        Assert.Equal("C49829AED1D183604D2C9176EBF678C93D32FEF4C30F183DA885FFCB55E5459D",
            Convert.ToHexString(AuditChain.ComputeHash(1, AuditChain.GenesisHash, Sample)));
    }

    [Fact]
    public void Field_boundaries_are_unambiguous_and_usage_is_not_hashed()
    {
        var a = AuditChain.ComputeHash(1, AuditChain.GenesisHash, Sample with { Actor = "ab", Tenant = "c" });
        var b = AuditChain.ComputeHash(1, AuditChain.GenesisHash, Sample with { Actor = "a", Tenant = "bc" });
        Assert.NotEqual(a, b);
        Assert.Equal(
            AuditChain.ComputeHash(1, AuditChain.GenesisHash, Sample),
            AuditChain.ComputeHash(1, AuditChain.GenesisHash, Sample with { UsageLevel = CredentialLevel.Qualified, UsageCount = 1 }));
        Assert.Equal(
            AuditChain.ComputeHash(1, AuditChain.GenesisHash, Sample),
            AuditChain.ComputeHash(1, AuditChain.GenesisHash, Sample with { Time = Time.ToOffset(TimeSpan.FromHours(2)) }));
    }

    [Fact]
    public async Task Verification_reports_the_first_break()
    {
        var chain = Build(5);
        Assert.Equal(new AuditVerification(true, 0, null, null), await AuditChain.VerifyAsync(Entries([])));
        Assert.Equal(new AuditVerification(true, 5, null, null), await AuditChain.VerifyAsync(Entries(chain)));

        var repeated = chain.Take(3).Append(chain[2]).ToList();
        Assert.Equal(new AuditVerification(false, 4, 3, "reordered"), await AuditChain.VerifyAsync(Entries(repeated)));

        var gap = chain.Where(e => e.Sequence != 1).ToList();
        Assert.Equal(new AuditVerification(false, 1, 1, "removed"), await AuditChain.VerifyAsync(Entries(gap)));

        var edited = chain.Select(e => e.Sequence == 2 ? e with { Event = e.Event with { Outcome = "x" } } : e).ToList();
        Assert.Equal(new AuditVerification(false, 2, 2, "changed"), await AuditChain.VerifyAsync(Entries(edited)));
    }

    [Fact]
    public async Task Usage_is_recounted_per_level_with_a_seal_batch_entry_counting_its_hashes()
    {
        var details = new[]
        {
            """{"level":"Qualified","hash":"AA"}""",
            """{"level":"QualifiedSeal","hashes":["01","02","03"],"signatures":3}""",
            """{"level":"QualifiedSeal","hashes":["04"],"signatures":500}""",
            """{"hash":"BB"}""",
        };
        var list = new List<AuditEntry>();
        var previous = AuditChain.GenesisHash;
        for (var i = 0; i < details.Length; i++)
        {
            var e = Sample with { Details = details[i] };
            var hash = AuditChain.ComputeHash(i + 1, previous, e);
            list.Add(new AuditEntry(i + 1, e, previous, hash));
            previous = hash;
        }

        var verified = await AuditChain.VerifyAsync(Entries(list));
        var month = Time.UtcDateTime.ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(1, verified.Usage[("t1", month, "Qualified")]);

        // The hashes signed count, not a number written beside them.
        Assert.Equal(4, verified.Usage[("t1", month, "QualifiedSeal")]);
        Assert.Equal((3, 1), (verified.SignaturesWithLevel, verified.SignaturesWithoutLevel));
    }

    private static List<AuditEntry> Build(int count)
    {
        var list = new List<AuditEntry>();
        var previous = AuditChain.GenesisHash;
        for (var i = 1; i <= count; i++)
        {
            var e = Sample with { Details = $$"""{"n":{{i}}}""" };
            var hash = AuditChain.ComputeHash(i, previous, e);
            list.Add(new AuditEntry(i, e, previous, hash));
            previous = hash;
        }

        return list;
    }

    private static async IAsyncEnumerable<AuditEntry> Entries(List<AuditEntry> entries)
    {
        await Task.Yield();
        foreach (var e in entries)
        {
            yield return e;
        }
    }
}
