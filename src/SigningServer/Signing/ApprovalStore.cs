using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using StackExchange.Redis;

namespace DTrust.SigningServer.Signing;

/// <summary>How the SAD check of a SignHash ended.</summary>
public enum GrantOutcome
{
    Consumed,
    NotFound,
    NotApproved,
    HashesDiffer,
    WrongSad,
    Tampered,
}

/// <summary>
/// Holder-approval authorizations in Redis, shared by every node: the sealed authorization, its one-time link, the
/// grant the approval leaves (the key wrapped under the SAD's KEK, in a key of its own whose TTL ends with the
/// authorization) and the code that a return URL carries. Each transition is one script, so an authorization is
/// decided once and its grant signs once, whichever nodes are asked. As for challenges, Redis is not trusted with
/// the decision: the node checks the seals over what a script returns. Redis never holds a usable key: the grant
/// opens only with the SAD, which is there only sealed under the server secret.
/// </summary>
public sealed class ApprovalStore(IConnectionMultiplexer redis, OneTimeCodes codes, RedisReplication replication)
{
    /// <summary>How long a decided or spent authorization still answers its state (then NOT_FOUND).</summary>
    private static readonly TimeSpan Tail = TimeSpan.FromMinutes(10);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static readonly LuaScript Create = LuaScript.Prepare("""
        local n = redis.call('INCR', @rateKey)
        if n == 1 then redis.call('PEXPIRE', @rateKey, @windowMs) end
        if n > tonumber(@limit) then return 0 end
        redis.call('HSET', @key, 'data', @data, 'seal', @seal, 'partner', @partner, 'digest', @digest, 'state', 'pending',
          'attempts', @attempts)
        redis.call('PEXPIRE', @key, @keepMs)
        redis.call('SET', @link, @target, 'PX', @lifetimeMs)
        return 1
        """);

    // Decides a pending authorization once (approve or reject); the link dies with the decision.
    private static readonly LuaScript Decide = LuaScript.Prepare("""
        local state = redis.call('HGET', @key, 'state')
        if not state then return 'not_found' end
        if state ~= 'pending' then return state end
        if @state == 'approved' then
          redis.call('SET', @grantKey, @grant, 'PX', @grantMs)
          redis.call('HSET', @key, 'state', 'approved', 'sad', @sad, 'sad_digest', @sadDigest, 'factor', @factor)
        else
          redis.call('HSET', @key, 'state', @state)
        end
        redis.call('DEL', @link)
        redis.call('PUBLISH', @channel, @state)
        return 'ok'
        """);

    // Voids an authorization whatever it is but spent: the grant goes, the state is REJECTED, watchers hear it.
    private static readonly LuaScript Void = LuaScript.Prepare("""
        local state = redis.call('HGET', @key, 'state')
        if not state or state == 'used' then return 0 end
        redis.call('DEL', @grantKey)
        redis.call('HSET', @key, 'state', 'rejected', 'sad', '')
        redis.call('PUBLISH', @channel, 'rejected')
        return 1
        """);

    // Refusing another partner before looking at the SAD means nobody else can burn the partner's attempts.
    private static readonly LuaScript Consume = LuaScript.Prepare("""
        local c = redis.call('HMGET', @key, 'partner', 'digest', 'state', 'sad_digest', 'attempts', 'data', 'seal')
        if not c[1] or c[1] ~= @partner then return {'not_found'} end
        if c[3] ~= 'approved' then return {'state', c[3]} end
        if c[2] ~= @digest then return {'hashes_differ'} end
        if c[4] ~= @sadDigest then
          local left = tonumber(c[5]) - 1
          if left <= 0 then
            redis.call('DEL', @grantKey)
            redis.call('HSET', @key, 'state', 'rejected', 'sad', '')
            redis.call('PUBLISH', @channel, 'rejected')
            return {'exhausted'}
          end
          redis.call('HSET', @key, 'attempts', left)
          return {'wrong_sad', tostring(left)}
        end
        local grant = redis.call('GET', @grantKey)
        if not grant then return {'state', 'expired'} end
        redis.call('DEL', @grantKey)
        redis.call('HSET', @key, 'state', 'used', 'sad', '')
        redis.call('PUBLISH', @channel, 'used')
        return {'consumed', c[6], c[7], grant}
        """);

    /// <summary>
    /// Stores a new authorization and its link (the token's digest → the authorization) within the credential's
    /// per-minute limit shared with challenges; false over the limit, nothing stored.
    /// </summary>
    public async Task<bool> CreateAsync(PendingApproval approval, string linkToken, int sadAttempts, int perMinute)
    {
        ArgumentNullException.ThrowIfNull(approval);
        var lifetime = approval.ExpiresAt - DateTimeOffset.UtcNow;
        var window = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60;
        var created = (long)await redis.GetDatabase().ScriptEvaluateAsync(Create, new
        {
            rateKey = (RedisKey)$"dtrust:{{{approval.CredentialId}}}:rl:{window.ToString(CultureInfo.InvariantCulture)}",
            windowMs = 61_000,
            limit = perMinute,
            key = (RedisKey)Key(approval.CredentialId, approval.Id),
            data = JsonSerializer.Serialize(approval, Json),
            seal = codes.SealFields("approval", approval.SealedFields()),
            partner = approval.PartnerId,
            digest = approval.ListDigest,
            attempts = sadAttempts,
            keepMs = (long)(lifetime + Tail).TotalMilliseconds,
            link = (RedisKey)LinkKey(approval.CredentialId, linkToken),
            target = approval.Id,
            lifetimeMs = Math.Max(1, (long)lifetime.TotalMilliseconds),
        });
        return created == 1;
    }

    /// <summary>The pending authorization a holder's link opens, or null (never made, decided, expired, forged).</summary>
    public async Task<(PendingApproval Approval, ApprovalState State)?> OpenLinkAsync(string credentialId, string linkToken, DateTimeOffset now)
    {
        var db = redis.GetDatabase();
        var id = (string?)await db.StringGetAsync(LinkKey(credentialId, linkToken));
        return id is null ? null : await GetAsync(credentialId, id, now);
    }

    /// <summary>The authorization and its state as this node judges it (the expiry by its own clock), or null.</summary>
    public async Task<(PendingApproval Approval, ApprovalState State)?> GetAsync(string credentialId, string id, DateTimeOffset now)
    {
        var fields = await redis.GetDatabase().HashGetAsync(Key(credentialId, id), ["data", "seal", "state"]);
        if (fields[0].IsNull || Verified((string?)fields[0], (string?)fields[1]) is not { } approval
            || approval.Id != id || approval.CredentialId != credentialId)
        {
            return null;
        }

        return (approval, Judge(approval, (string?)fields[2], now));
    }

    /// <summary>The status for the partner: the SAD (unsealed) only while APPROVED.</summary>
    public async Task<ApprovalStatus?> StatusAsync(string partnerId, string credentialId, string id, DateTimeOffset now)
    {
        var fields = await redis.GetDatabase().HashGetAsync(Key(credentialId, id), ["data", "seal", "state", "sad", "factor"]);
        if (fields[0].IsNull || Verified((string?)fields[0], (string?)fields[1]) is not { } approval
            || approval.Id != id || approval.CredentialId != credentialId || approval.PartnerId != partnerId)
        {
            return null;
        }

        var state = Judge(approval, (string?)fields[2], now);
        var sad = state == ApprovalState.Approved && !fields[3].IsNullOrEmpty ? codes.Unprotect("sad", id, (string)fields[3]!) : null;
        return new ApprovalStatus(id, credentialId, state, approval.ExpiresAt, sad, state == ApprovalState.Approved ? (string?)fields[4] : null);
    }

    /// <summary>Records the holder's approval once; false when the authorization is no longer pending.</summary>
    public Task<bool> ApproveAsync(PendingApproval approval, string linkToken, ApprovalGrant grant, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(approval);
        ArgumentNullException.ThrowIfNull(grant);
        var sealedGrant = JsonSerializer.Serialize(new StoredGrant(grant.WrappedKeyJson, grant.Factor, grant.EvidenceJson,
            codes.SealFields("approval grant", approval.Id, grant.WrappedKeyJson, grant.SadDigest, grant.Factor, grant.EvidenceJson)), Json);
        return DecideAsync(approval, linkToken, "approved", sealedGrant, grant.SealedSad, grant.SadDigest, grant.Factor, now);
    }

    /// <summary>Records the holder's rejection once; false when the authorization is no longer pending.</summary>
    public Task<bool> RejectAsync(PendingApproval approval, string linkToken, DateTimeOffset now) =>
        DecideAsync(approval, linkToken, "rejected", "", "", "", "", now);

    /// <summary>
    /// Checks partner, state, hash list and SAD in one script and hands out the grant once, then verifies its seals
    /// here. A wrong SAD costs one of the attempts; the last one rejects the authorization.
    /// </summary>
    public async Task<(GrantOutcome Outcome, PendingApproval? Approval, StoredGrant? Grant, string Detail)> ConsumeAsync(
        string partnerId, string credentialId, string id, string listDigest, string sad, DateTimeOffset now)
    {
        var key = (RedisKey)Key(credentialId, id);
        // A spent grant (or a spent SAD attempt) must be on the replicas before anything is signed with it.
        var reply = await replication.WriteAsync(async db => (RedisResult[])(await db.ScriptEvaluateAsync(Consume, new
        {
            key,
            grantKey = (RedisKey)GrantKey(credentialId, id),
            channel = ChannelName(id),
            partner = partnerId,
            digest = listDigest,
            sadDigest = SadDigest(id, sad),
        }))!, r => r.Length > 0 && (string?)r[0] is "consumed" or "wrong_sad" or "exhausted", "the spent authorization");
        var status = reply.Length > 0 ? (string?)reply[0] : null;

        switch (status)
        {
            case "not_found":
                return (GrantOutcome.NotFound, null, null, "");
            case "state":
                return (GrantOutcome.NotApproved, null, null, (string?)reply[1] ?? "");
            case "hashes_differ":
                return (GrantOutcome.HashesDiffer, null, null, "");
            case "wrong_sad":
                return (GrantOutcome.WrongSad, null, null, (string?)reply[1] ?? "0");
            case "exhausted":
                return (GrantOutcome.WrongSad, null, null, "0");
            case "consumed" when reply.Length == 4:
                var approval = Verified((string?)reply[1], (string?)reply[2]);
                var grant = JsonSerializer.Deserialize<StoredGrant>((string?)reply[3] ?? "null", Json);
                if (approval is null || grant is null || approval.Id != id || approval.CredentialId != credentialId
                    || approval.PartnerId != partnerId || approval.ListDigest != listDigest
                    || !OneTimeCodes.SameMac(grant.Seal, codes.SealFields(
                        "approval grant", id, grant.WrappedKeyJson, SadDigest(id, sad), grant.Factor, grant.EvidenceJson)))
                {
                    return (GrantOutcome.Tampered, null, null, "");
                }

                // Redis's expiry is not trusted: whoever can write there could keep a grant alive.
                return approval.ExpiresAt <= now
                    ? (GrantOutcome.NotApproved, approval, null, "expired")
                    : (GrantOutcome.Consumed, approval, grant, "");
            default:
                return (GrantOutcome.Tampered, null, null, "");
        }
    }

    /// <summary>
    /// Voids the authorization (its grant deleted, REJECTED): after a failed OAuth code exchange (RFC 6749 §4.1.2),
    /// whoever tried must not get the SAD another way.
    /// </summary>
    public async Task VoidAsync(string credentialId, string id) =>
        // A voided grant brought back by a fail-over would hand its SAD out after all.
        await replication.WriteAsync(
            db => db.ScriptEvaluateAsync(Void, new
            {
                key = (RedisKey)Key(credentialId, id),
                grantKey = (RedisKey)GrantKey(credentialId, id),
                channel = ChannelName(id),
            }),
            _ => true,
            "the voided authorization");

    /// <summary>A short-lived, single-use code for the return URL that the partner exchanges for the status.</summary>
    public async Task<string> IssueReturnCodeAsync(PendingApproval approval)
    {
        ArgumentNullException.ThrowIfNull(approval);
        var code = ApproveLinks.NewToken();
        await redis.GetDatabase().StringSetAsync(
            CodeKey(code), approval.PartnerId + "\n" + approval.CredentialId + "\n" + approval.Id, TimeSpan.FromSeconds(120));
        return code;
    }

    /// <summary>The authorization a return code names, taken once (GETDEL), if it is the partner's.</summary>
    public async Task<(string CredentialId, string Id)?> RedeemReturnCodeAsync(string partnerId, string code)
    {
        var value = (string?)await redis.GetDatabase().StringGetDeleteAsync(CodeKey(code));
        var parts = value?.Split('\n');
        return parts is { Length: 3 } && parts[0] == partnerId ? (parts[1], parts[2]) : null;
    }

    /// <summary>Signals on every state change of the authorization (Redis pub/sub), for WatchAuthorization.</summary>
    public async Task<ChannelMessageQueue> SubscribeAsync(string id) =>
        await redis.GetSubscriber().SubscribeAsync(Channel(id));

    /// <summary>The SAD's digest as stored and compared: bound to the authorization, so a SAD is worthless elsewhere.</summary>
    public static string SadDigest(string id, string sad) =>
        Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes("dtrust sad v1\n" + id + "\n" + sad)));

    private async Task<bool> DecideAsync(
        PendingApproval approval, string linkToken, string state, string grant, string sad, string sadDigest, string factor, DateTimeOffset now)
    {
        var remaining = approval.ExpiresAt - now;
        if (remaining <= TimeSpan.Zero)
        {
            return false;
        }

        // The holder's decision (a grant, or a rejection) must survive a fail-over like a spent challenge.
        var result = await replication.WriteAsync(async db => (string?)await db.ScriptEvaluateAsync(Decide, new
        {
            key = (RedisKey)Key(approval.CredentialId, approval.Id),
            grantKey = (RedisKey)GrantKey(approval.CredentialId, approval.Id),
            link = (RedisKey)LinkKey(approval.CredentialId, linkToken),
            channel = ChannelName(approval.Id),
            state,
            grant,
            grantMs = Math.Max(1, (long)remaining.TotalMilliseconds),
            sad,
            sadDigest,
            factor,
        }), r => r == "ok", "the holder's decision");
        return result == "ok";
    }

    private PendingApproval? Verified(string? data, string? seal)
    {
        if (data is null || seal is null)
        {
            return null;
        }

        PendingApproval? approval;
        try
        {
            approval = JsonSerializer.Deserialize<PendingApproval>(data, Json);
        }
        catch (JsonException)
        {
            return null;
        }

        return approval is not null && OneTimeCodes.SameMac(codes.SealFields("approval", approval.SealedFields()), seal) ? approval : null;
    }

    private static ApprovalState Judge(PendingApproval approval, string? stored, DateTimeOffset now) => stored switch
    {
        "used" => ApprovalState.Used,
        "rejected" => ApprovalState.Rejected,
        _ when approval.ExpiresAt <= now => ApprovalState.Expired,
        "approved" => ApprovalState.Approved,
        _ => ApprovalState.Pending,
    };

    // The credential's hash tag keeps the authorization, its grant, its link and the rate counter in one slot.
    private static string Key(string credentialId, string id) => $"dtrust:{{{credentialId}}}:approval:{id}";

    private static string GrantKey(string credentialId, string id) => $"dtrust:{{{credentialId}}}:approval-grant:{id}";

    // Only the token's digest names the link: a reader of Redis cannot open a holder's page with what it finds there.
    private static string LinkKey(string credentialId, string token) =>
        $"dtrust:{{{credentialId}}}:approval-link:{Convert.ToHexString(SHA256.HashData(Encoding.ASCII.GetBytes(token)))}";

    private static string CodeKey(string code) =>
        $"dtrust:approval-code:{Convert.ToHexString(SHA256.HashData(Encoding.ASCII.GetBytes(code)))}";

    private static RedisChannel Channel(string id) => RedisChannel.Literal(ChannelName(id));

    // A value, not a key, in the scripts: the channel is no key of the slot (PUBLISH reaches every node).
    private static string ChannelName(string id) => "dtrust:approval-events:" + id;
}

/// <summary>The grant as Redis keeps it: the SAD-wrapped key, the factor and its evidence, sealed with the SAD's digest.</summary>
public sealed record StoredGrant(string WrappedKeyJson, string Factor, string EvidenceJson, string Seal);

/// <summary>The holder's one-time links: 256-bit random tokens that carry the credential they belong to.</summary>
public static class ApproveLinks
{
    public static string NewToken() => Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string Base64Url(ReadOnlySpan<byte> bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>The path segment of a link: the credential (so the node finds the slot) and the token.</summary>
    public static string Segment(string credentialId, string token) => credentialId + "." + token;

    /// <summary>Splits a link segment; null when it is not one.</summary>
    public static (string CredentialId, string Token)? Parse(string? segment)
    {
        var dot = segment?.LastIndexOf('.') ?? -1;
        if (segment is null || dot <= 0 || dot == segment.Length - 1 || segment.Length > 200)
        {
            return null;
        }

        var token = segment[(dot + 1)..];
        return token.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_') ? (segment[..dot], token) : null;
    }
}
