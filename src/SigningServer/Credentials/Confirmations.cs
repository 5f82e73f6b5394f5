using System.Globalization;
using DTrust.SigningServer.Errors;
using DTrust.SigningServer.Factors;
using DTrust.SigningServer.Signing;
using DTrust.Store;
using StackExchange.Redis;

namespace DTrust.SigningServer.Credentials;

/// <summary>How an operator action that needs a second pair of eyes stands after this call.</summary>
public enum ConfirmationOutcome
{
    /// <summary>First request: a code went to the holder; the action waits for it or for a second operator.</summary>
    Requested,

    /// <summary>A request of this operator (or for another value) is open already; nothing was sent again.</summary>
    Pending,

    /// <summary>The holder's code was right, or a second operator of the tenant asked for the same: go ahead.</summary>
    Confirmed,
}

/// <summary>
/// The result: the outcome and, when confirmed, the other party ("holder", or the id of the operator who asked first
/// when the caller is the second operator).
/// </summary>
public sealed record Confirmation(ConfirmationOutcome Outcome, string? ConfirmedBy, string? Message);

/// <summary>
/// Four eyes for the operator actions that could hand a credential to someone other than its holder (unlocking
/// after wrong PINs, changing the phone that receives codes): the first operator's request sends a code to the
/// holder's phone on record; the action runs when that code comes back (the holder agrees) or when a different
/// operator of the same tenant asks for the same action (two operators agree). Pending requests live in Redis for
/// <see cref="Lifetime"/>, sealed under the server secret, so that whoever can write to Redis cannot pose as the
/// first operator; a code is good for <see cref="Attempts"/> tries and once.
/// </summary>
public sealed class Confirmations(
    IConnectionMultiplexer redis, OneTimeCodes codes, IOtpSender holderChannel, SmsSendLimits sends, ICodeFailureLog failures,
    SigningOptions options, TimeProvider time)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(10);
    public const int Attempts = 3;

    // A new request, or the second operator's confirmation of the same value; never the first operator's own.
    private static readonly LuaScript Request = LuaScript.Prepare("""
        local c = redis.call('HMGET', @key, 'by', 'value', 'otp', 'seal', 'expires')
        if not c[1] then
          redis.call('HSET', @key, 'by', @by, 'value', @value, 'otp', @otp, 'attempts', @attempts, 'seal', @seal, 'expires', @expires)
          redis.call('PEXPIRE', @key, @lifetimeMs)
          return {'requested'}
        end
        if c[1] ~= @by and c[2] == @value then
          redis.call('DEL', @key)
          return {'second', c[1], c[2], c[3], c[4], c[5] or ''}
        end
        return {'pending'}
        """);

    // The holder's code: checked here for the attempt count, confirmed on the node against the seal.
    private static readonly LuaScript Confirm = LuaScript.Prepare("""
        local c = redis.call('HMGET', @key, 'by', 'value', 'otp', 'attempts', 'seal', 'expires')
        if not c[1] then return {'none'} end
        if c[2] ~= @value then return {'none'} end
        if c[3] ~= @otp then
          local left = tonumber(c[4]) - 1
          if left <= 0 then redis.call('DEL', @key) else redis.call('HSET', @key, 'attempts', left) end
          return {'wrong', tostring(left)}
        end
        redis.call('DEL', @key)
        return {'ok', c[1], c[2], c[3], c[5], c[6] or ''}
        """);

    /// <summary>
    /// Asks for (or, with <paramref name="holderCode"/>, confirms) <paramref name="action"/> on
    /// <paramref name="subject"/> with <paramref name="value"/> (the new phone number; "" when there is none). The
    /// code goes to <paramref name="holderPhone"/> with <paramref name="text"/> ({code} replaced).
    /// </summary>
    public async Task<Confirmation> AskAsync(
        CallerRecord caller, string action, string subject, string value, string holderPhone, string text, string? holderCode, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(text);
        var id = MessageId(action, subject);
        var key = (RedisKey)$"dtrust:{{confirm:{caller.Tenant}:{action}:{subject}}}";
        var db = redis.GetDatabase();

        // Wrong codes count durably per subject and day, as for signatures: three guesses a request, but new
        // requests must not buy an operator unlimited guesses at the holder's code.
        // The cap stops guessing only: a second operator (no code) can still confirm, as the refusal says.
        var failureKey = "confirm:" + action + ":" + subject;
        if (!string.IsNullOrEmpty(holderCode)
            && await failures.WrongCodesTodayAsync(caller.Tenant, failureKey, time.GetUtcNow(), ct) >= options.OtpFailuresPerDay)
        {
            throw new DTrustException(
                ErrorKind.FailedPrecondition, "too many wrong confirmation codes for this today; ask a second operator to confirm, or wait for the next day (UTC)");
        }

        if (!string.IsNullOrEmpty(holderCode))
        {
            var presented = codes.Mac(id, holderCode);
            var reply = (RedisResult[])(await db.ScriptEvaluateAsync(Confirm, new { key, value, otp = presented }))!;
            if ((string?)reply[0] == "wrong")
            {
                await failures.RecordWrongCodeAsync(caller.Tenant, failureKey, voided: (string?)reply[1] == "0", time.GetUtcNow(), CancellationToken.None);
            }

            return (string?)reply[0] switch
            {
                // The node confirms what the script said: the stored value and code are those presented, the seal
                // holds, and the request has not outlived its time (Redis is trusted with none of it).
                "ok" when reply.Length == 6 && (string?)reply[2] == value && OneTimeCodes.SameMac((string?)reply[3] ?? "", presented)
                    && Sealed(caller, action, subject, reply) => new Confirmation(ConfirmationOutcome.Confirmed, "holder", null),
                "wrong" => throw new DTrustException(
                    ErrorKind.PermissionDenied, $"wrong confirmation code; {(string?)reply[1]} attempt(s) left"),
                "none" => throw new DTrustException(
                    ErrorKind.FailedPrecondition, "no such request is waiting for the holder's confirmation (expired, used, or for another value)"),
                _ => throw new DTrustException(ErrorKind.PermissionDenied, "the pending request failed its integrity check; ask again"),
            };
        }

        var code = OneTimeCodes.NewCode();
        var otp = codes.Mac(id, code);
        var expires = (time.GetUtcNow() + Lifetime).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        var answer = (RedisResult[])(await db.ScriptEvaluateAsync(Request, new
        {
            key,
            by = caller.Id,
            value,
            otp,
            attempts = Attempts,
            seal = codes.SealFields("confirmation", caller.Tenant, action, subject, caller.Id, value, otp, expires),
            expires,
            lifetimeMs = (long)Lifetime.TotalMilliseconds,
        }))!;
        switch ((string?)answer[0])
        {
            case "requested":
                // Each request is an SMS to the holder: counted with the signature codes sent to that number.
                if (!await sends.CountPhoneAsync(holderPhone))
                {
                    await db.KeyDeleteAsync(key);
                    throw new DTrustException(ErrorKind.ResourceExhausted, "too many codes sent to this holder's phone this hour; wait");
                }

                try
                {
                    await holderChannel.SendAsync(new OtpMessage(id, subject, holderPhone, code, text.Replace("{code}", code, StringComparison.Ordinal)), ct);
                }
                catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
                {
                    // A request whose code never left would block the next one until it expires.
                    await db.KeyDeleteAsync(key);
                    throw new DTrustException(ErrorKind.Unavailable, "the confirmation code could not be sent to the holder; retry", e);
                }

                return new Confirmation(ConfirmationOutcome.Requested, null, text.Replace("{code}", "******", StringComparison.Ordinal));
            case "second" when answer.Length == 6 && (string?)answer[2] == value && Sealed(caller, action, subject, answer):
                return new Confirmation(ConfirmationOutcome.Confirmed, (string?)answer[1], null);
            case "pending":
                return new Confirmation(ConfirmationOutcome.Pending, null, null);
            default:
                throw new DTrustException(ErrorKind.PermissionDenied, "the pending request failed its integrity check; ask again");
        }
    }

    /// <summary>The outbox/SMS id of a confirmation code (development readers look it up by this).</summary>
    public static string MessageId(string action, string subject) => $"confirm:{action}:{subject}";

    // reply: {status, by, value, otp, seal, expires} as stored. A sealed request copied from Redis (or a backup)
    // and written back later is refused by its sealed expiry, not by Redis's TTL, which the writer sets.
    private bool Sealed(CallerRecord caller, string action, string subject, RedisResult[] reply)
    {
        var expires = (string?)reply[5] ?? "";
        var expected = codes.SealFields(
            "confirmation", caller.Tenant, action, subject, (string?)reply[1] ?? "", (string?)reply[2] ?? "", (string?)reply[3] ?? "", expires);
        return OneTimeCodes.SameMac(expected, (string?)reply[4] ?? "")
            && long.TryParse(expires, NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            && ms > time.GetUtcNow().ToUnixTimeMilliseconds();
    }

}
