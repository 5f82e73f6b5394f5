using System.Diagnostics;
using System.Globalization;
using DTrust.SigningServer.Hosting;
using StackExchange.Redis;

namespace DTrust.SigningServer.Signing;

/// <summary>
/// A challenge as AuthorizeSignature makes it: bound to partner, credential and the ordered hash list, living until
/// <see cref="ExpiresAt"/>; with a second factor, its name (<see cref="Factor"/>) and the opaque value the factor
/// issued (<see cref="FactorValue"/>: for the SMS code its MAC), which a response's proof must equal.
/// </summary>
public sealed record Challenge(
    string Id, string PartnerId, string CredentialId, string HashListDigest, int HashCount, string? FactorValue, DateTimeOffset ExpiresAt,
    string? Factor = null);

public enum ConsumeOutcome
{
    /// <summary>Everything matched; the challenge (which needed no code) is gone, this caller may sign.</summary>
    Consumed,

    /// <summary>Everything matched, the second factor's proof too; the challenge is gone, this caller may sign.</summary>
    ConsumedWithCode,

    /// <summary>No such challenge: never made, expired, used, or another partner's or credential's.</summary>
    NotFound,

    /// <summary>The hashes differ from those authorized; the challenge stays for the right ones.</summary>
    HashesDiffer,

    /// <summary>Wrong proof (code); attempts remain.</summary>
    WrongCode,

    /// <summary>Wrong proof (code) and no attempts left: the challenge is gone.</summary>
    Exhausted,

    /// <summary>
    /// Redis answered with a challenge whose seal does not verify, whose fields are not those asked for, or a code
    /// or factor check the node does not confirm: written or altered by someone without the server secret. Gone; never signs.
    /// </summary>
    Tampered,
}

/// <summary>
/// Challenges in Redis, shared by every server node. One script checks and consumes atomically, so a challenge
/// signs at most once whichever node is asked. Keys carry the credential as hash tag (<c>dtrust:{credential}:…</c>)
/// so the scripts also run on Redis Cluster. Redis is not trusted with the decision: each challenge carries a seal
/// (<see cref="OneTimeCodes.Seal"/>) that the node checks against the fields the script returns, and the node
/// compares the factor's proof with the stored value itself, so a forged, re-pointed or factor-less challenge, or a
/// forged "consumed" reply, never signs. What the factor is (an SMS code, a passkey) is nothing to the store: it
/// keeps the factor's name and value and compares proofs.
/// </summary>
public sealed class ChallengeStore(IConnectionMultiplexer redis, OneTimeCodes codes, RedisReplication replication)
{
    // Refusing a foreign partner or credential before looking at the proof means another partner cannot burn the
    // holder's attempts; a wrong proof costs one attempt and the last one deletes the challenge.
    private static readonly LuaScript Consume = LuaScript.Prepare("""
        local c = redis.call('HMGET', @key, 'partner', 'credential', 'digest', 'proof', 'attempts', 'count', 'expires', 'seal', 'factor')
        if not c[1] then return {'not_found'} end
        if c[1] ~= @partner or c[2] ~= @credential then return {'not_found'} end
        if not c[4] then return {'not_found'} end
        if c[3] ~= @digest then return {'hashes_differ'} end
        if c[4] ~= '' and c[4] ~= @proof then
          local left = tonumber(c[5]) - 1
          if left <= 0 then
            redis.call('DEL', @key)
            return {'exhausted'}
          end
          redis.call('HSET', @key, 'attempts', left)
          return {'wrong_code:' .. left}
        end
        redis.call('DEL', @key)
        return {'consumed', c[1], c[2], c[3], c[6] or '', c[4], c[7] or '', c[8] or '', c[9] or ''}
        """);

    // The credential's new-challenge count in a fixed one-minute window (the first increment sets its expiry) and,
    // within the limit, the challenge itself: one script, one round trip for AuthorizeSignature. Both keys carry the
    // credential's hash tag, so the script also runs on Redis Cluster.
    private static readonly LuaScript Create = LuaScript.Prepare("""
        local n = redis.call('INCR', @rateKey)
        if n == 1 then redis.call('PEXPIRE', @rateKey, @windowMs) end
        if n > tonumber(@limit) then return 0 end
        redis.call('HSET', @key, 'partner', @partner, 'credential', @credential, 'digest', @digest,
          'count', @count, 'factor', @factor, 'proof', @proof, 'attempts', @attempts, 'expires', @expires, 'seal', @seal)
        redis.call('PEXPIRE', @key, @lifetimeMs)
        return 1
        """);

    /// <summary>
    /// Counts a new challenge for the credential in the current minute and, if that count is within
    /// <paramref name="perMinute"/>, stores the challenge. False: over the limit, nothing stored.
    /// </summary>
    public async Task<bool> CreateAsync(Challenge challenge, int attempts, int perMinute)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        var start = Stopwatch.GetTimestamp();
        try
        {
            var window = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60;
            var key = (RedisKey)ChallengeKey(challenge.CredentialId, challenge.Id);
            var created = await replication.WriteAsync(async db => (long)await db.ScriptEvaluateAsync(Create, new
            {
                rateKey = (RedisKey)$"dtrust:{{{challenge.CredentialId}}}:rl:{window.ToString(CultureInfo.InvariantCulture)}",
                windowMs = 61_000,
                limit = perMinute,
                key,
                partner = challenge.PartnerId,
                credential = challenge.CredentialId,
                digest = challenge.HashListDigest,
                count = challenge.HashCount,
                factor = challenge.Factor ?? "",
                proof = challenge.FactorValue ?? "",
                attempts,
                expires = challenge.ExpiresAt.ToUnixTimeMilliseconds(),
                seal = codes.Seal(challenge),
                lifetimeMs = Math.Max(1, (long)(challenge.ExpiresAt - DateTimeOffset.UtcNow).TotalMilliseconds),
            }), c => c == 1, "the new challenge", db => db.KeyDeleteAsync(key)); // not promised to the partner: not left to be used

            return created == 1;
        }
        finally
        {
            ServerMetrics.RedisCreate.ObserveSince(start);
        }
    }

    /// <summary>
    /// Checks and consumes the challenge in one script, then verifies on this node what Redis returned: the seal over
    /// every field, that the fields are the ones asked for, the expiry against <paramref name="now"/>, and the
    /// presented <paramref name="proof"/> against the stored factor value (and, if given, that the challenge's factor
    /// is <paramref name="factor"/>, the one that made the proof).
    /// </summary>
    public async Task<(ConsumeOutcome Outcome, int AttemptsLeft)> ConsumeAsync(
        string challengeId, string partnerId, string credentialId, string hashListDigest, string? proof, DateTimeOffset now,
        string? factor = null)
    {
        var start = Stopwatch.GetTimestamp();
        var key = (RedisKey)ChallengeKey(credentialId, challengeId);
        RedisResult[] reply;
        try
        {
            // A spent challenge (or a spent attempt) must be on the replicas before anything is signed with it.
            reply = await replication.WriteAsync(
                async db => (RedisResult[])(await db.ScriptEvaluateAsync(Consume, new
                {
                    key,
                    partner = partnerId,
                    credential = credentialId,
                    digest = hashListDigest,
                    proof = proof ?? "",
                }))!,
                r => r.Length > 0 && (string?)r[0] is not (null or "not_found" or "hashes_differ"),
                "the spent challenge");
        }
        finally
        {
            ServerMetrics.RedisConsume.ObserveSince(start);
        }

        var status = reply.Length > 0 ? (string?)reply[0] : null;

        return status switch
        {
            "consumed" when reply.Length == 9 => (Verify(challengeId, partnerId, credentialId, hashListDigest, proof, factor, now, reply), 0),
            "hashes_differ" => (ConsumeOutcome.HashesDiffer, 0),
            "exhausted" => (ConsumeOutcome.Exhausted, 0),
            { } s when s.StartsWith("wrong_code:", StringComparison.Ordinal) =>
                (ConsumeOutcome.WrongCode, int.Parse(s["wrong_code:".Length..], CultureInfo.InvariantCulture)),
            "not_found" => (ConsumeOutcome.NotFound, 0),
            _ => (ConsumeOutcome.Tampered, 0),
        };
    }

    // The reply is {status, partner, credential, digest, count, proof, expires, seal, factor} as stored.
    private ConsumeOutcome Verify(
        string id, string partnerId, string credentialId, string digest, string? proof, string? factor, DateTimeOffset now, RedisResult[] reply)
    {
        var storedValue = (string?)reply[5] ?? "";
        var storedFactor = (string?)reply[8] ?? "";
        if (!int.TryParse((string?)reply[4], NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            || !long.TryParse((string?)reply[6], NumberStyles.None, CultureInfo.InvariantCulture, out var expiresMs)
            || expiresMs > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds())
        {
            return ConsumeOutcome.Tampered;
        }

        var stored = new Challenge(
            id, (string?)reply[1] ?? "", (string?)reply[2] ?? "", (string?)reply[3] ?? "", count,
            storedValue.Length == 0 ? null : storedValue, DateTimeOffset.FromUnixTimeMilliseconds(expiresMs),
            storedFactor.Length == 0 ? null : storedFactor);
        if (!OneTimeCodes.SameMac(codes.Seal(stored), (string?)reply[7] ?? "")
            || stored.PartnerId != partnerId || stored.CredentialId != credentialId || stored.HashListDigest != digest)
        {
            return ConsumeOutcome.Tampered;
        }

        // Redis's own expiry is not trusted either: whoever can write there could keep a challenge alive.
        if (stored.ExpiresAt <= now)
        {
            return ConsumeOutcome.NotFound;
        }

        if (stored.FactorValue is null)
        {
            return ConsumeOutcome.Consumed;
        }

        // The script said the proof matched; the node confirms it, so a forged reply cannot stand in for the factor.
        return proof is not null && OneTimeCodes.SameMac(stored.FactorValue, proof) && (factor is null || stored.Factor == factor)
            ? ConsumeOutcome.ConsumedWithCode
            : ConsumeOutcome.Tampered;
    }

    /// <summary>Whether the challenge is still open (the holder's page sends a code only when none is out).</summary>
    public Task<bool> ExistsAsync(string credentialId, string challengeId) =>
        redis.GetDatabase().KeyExistsAsync(ChallengeKey(credentialId, challengeId));

    public async Task DeleteAsync(string credentialId, string challengeId)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            await redis.GetDatabase().KeyDeleteAsync(ChallengeKey(credentialId, challengeId));
        }
        finally
        {
            ServerMetrics.RedisDelete.ObserveSince(start);
        }
    }

    // The credential's hash tag keeps a challenge in the slot of its rate counter (one script touches both).
    private static string ChallengeKey(string credentialId, string id) => $"dtrust:{{{credentialId}}}:challenge:{id}";
}
