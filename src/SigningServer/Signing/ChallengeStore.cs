using System.Diagnostics;
using System.Globalization;
using DTrust.SigningServer.Hosting;
using StackExchange.Redis;

namespace DTrust.SigningServer.Signing;

/// <summary>A challenge as AuthorizeSignature makes it: bound to partner, credential and the ordered hash list.</summary>
public sealed record Challenge(
    string Id, string PartnerId, string CredentialId, string HashListDigest, int HashCount, string? OtpMac, TimeSpan Lifetime);

public enum ConsumeOutcome
{
    /// <summary>Everything matched; the challenge (which needed no code) is gone, this caller may sign.</summary>
    Consumed,

    /// <summary>Everything matched, the one-time code too; the challenge is gone, this caller may sign.</summary>
    ConsumedWithCode,

    /// <summary>No such challenge: never made, expired, used, or another partner's or credential's.</summary>
    NotFound,

    /// <summary>The hashes differ from those authorized; the challenge stays for the right ones.</summary>
    HashesDiffer,

    /// <summary>Wrong code; attempts remain.</summary>
    WrongCode,

    /// <summary>Wrong code and no attempts left: the challenge is gone.</summary>
    Exhausted,
}

/// <summary>
/// Challenges in Redis, shared by every server node. One script checks and consumes atomically, so a challenge
/// signs at most once whichever node is asked. Keys carry the credential as hash tag (<c>dtrust:{credential}:…</c>)
/// so the scripts also run on Redis Cluster.
/// </summary>
public sealed class ChallengeStore(IConnectionMultiplexer redis)
{
    // Refusing a foreign partner or credential before looking at the code means another partner cannot burn the
    // holder's attempts; a wrong code costs one attempt and the last one deletes the challenge.
    private static readonly LuaScript Consume = LuaScript.Prepare("""
        local c = redis.call('HMGET', @key, 'partner', 'credential', 'digest', 'otp', 'attempts')
        if not c[1] then return 'not_found' end
        if c[1] ~= @partner or c[2] ~= @credential then return 'not_found' end
        if c[3] ~= @digest then return 'hashes_differ' end
        if c[4] ~= '' and c[4] ~= @otp then
          local left = tonumber(c[5]) - 1
          if left <= 0 then
            redis.call('DEL', @key)
            return 'exhausted'
          end
          redis.call('HSET', @key, 'attempts', left)
          return 'wrong_code:' .. left
        end
        redis.call('DEL', @key)
        if c[4] ~= '' then return 'consumed_code' end
        return 'consumed'
        """);

    // The credential's new-challenge count in a fixed one-minute window (the first increment sets its expiry) and,
    // within the limit, the challenge itself: one script, one round trip for AuthorizeSignature. Both keys carry the
    // credential's hash tag, so the script also runs on Redis Cluster.
    private static readonly LuaScript Create = LuaScript.Prepare("""
        local n = redis.call('INCR', @rateKey)
        if n == 1 then redis.call('PEXPIRE', @rateKey, @windowMs) end
        if n > tonumber(@limit) then return 0 end
        redis.call('HSET', @key, 'partner', @partner, 'credential', @credential, 'digest', @digest,
          'count', @count, 'otp', @otp, 'attempts', @attempts)
        redis.call('PEXPIRE', @key, @lifetimeMs)
        return 1
        """);

    /// <summary>
    /// Counts a new challenge for the credential in the current minute and, if that count is within
    /// <paramref name="perMinute"/>, stores the challenge. False: over the limit, nothing stored.
    /// </summary>
    public async Task<bool> CreateAsync(Challenge challenge, int attempts, int perMinute)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            var window = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60;
            var created = (long)await redis.GetDatabase().ScriptEvaluateAsync(Create, new
            {
                rateKey = (RedisKey)$"dtrust:{{{challenge.CredentialId}}}:rl:{window.ToString(CultureInfo.InvariantCulture)}",
                windowMs = 61_000,
                limit = perMinute,
                key = (RedisKey)ChallengeKey(challenge.CredentialId, challenge.Id),
                partner = challenge.PartnerId,
                credential = challenge.CredentialId,
                digest = challenge.HashListDigest,
                count = challenge.HashCount,
                otp = challenge.OtpMac ?? "",
                attempts,
                lifetimeMs = (long)challenge.Lifetime.TotalMilliseconds,
            });
            return created == 1;
        }
        finally
        {
            ServerMetrics.RedisCreate.ObserveSince(start);
        }
    }

    public async Task<(ConsumeOutcome Outcome, int AttemptsLeft)> ConsumeAsync(
        string challengeId, string partnerId, string credentialId, string hashListDigest, string? otpMac)
    {
        var start = Stopwatch.GetTimestamp();
        string? result;
        try
        {
            result = (string?)await redis.GetDatabase().ScriptEvaluateAsync(Consume, new
            {
                key = (RedisKey)ChallengeKey(credentialId, challengeId),
                partner = partnerId,
                credential = credentialId,
                digest = hashListDigest,
                otp = otpMac ?? "",
            });
        }
        finally
        {
            ServerMetrics.RedisConsume.ObserveSince(start);
        }

        return result switch
        {
            "consumed" => (ConsumeOutcome.Consumed, 0),
            "consumed_code" => (ConsumeOutcome.ConsumedWithCode, 0),
            "hashes_differ" => (ConsumeOutcome.HashesDiffer, 0),
            "exhausted" => (ConsumeOutcome.Exhausted, 0),
            { } s when s.StartsWith("wrong_code:", StringComparison.Ordinal) =>
                (ConsumeOutcome.WrongCode, int.Parse(s["wrong_code:".Length..], CultureInfo.InvariantCulture)),
            _ => (ConsumeOutcome.NotFound, 0),
        };
    }

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
