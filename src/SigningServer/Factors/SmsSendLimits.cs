using System.Diagnostics;
using System.Globalization;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Signing;
using StackExchange.Redis;

namespace DTrust.SigningServer.Factors;

/// <summary>
/// Codes sent per partner and per phone number in the current hour, in Redis: each one is an SMS someone pays for,
/// and a partner (or several, for one phone) could otherwise bomb a phone or run up toll fraud. A phone number is
/// keyed by its MAC, so Redis need not hold the holders' numbers. Confirmation codes count with signature codes.
/// </summary>
public sealed class SmsSendLimits(IConnectionMultiplexer redis, OneTimeCodes codes, SigningOptions options)
{
    // A fixed one-hour window per scope and key (partner id, or the MAC of a phone number).
    private static readonly LuaScript CountSend = LuaScript.Prepare("""
        local n = redis.call('INCR', @key)
        if n == 1 then redis.call('PEXPIRE', @key, @windowMs) end
        return n
        """);

    /// <summary>
    /// Counts a signature code about to go to <paramref name="phone"/> for <paramref name="partnerId"/>; refuses
    /// (<see cref="FactorRefusedException"/>) once either hourly cap is passed. The refused ones count too: they were asked for.
    /// </summary>
    public async Task RequireSignatureSendAsync(string partnerId, string phone)
    {
        // Both counters in one round trip's time (they live in different slots, so not one script).
        var partnerCount = CountAsync("partner", partnerId, options.OtpSendsPerPartnerPerHour);
        var phoneCount = CountPhoneAsync(phone);
        await Task.WhenAll(partnerCount, phoneCount);
        if (!await partnerCount)
        {
            throw new FactorRefusedException(
                "hourly limit of codes sent for this partner reached", ErrorKind.ResourceExhausted,
                "too many one-time codes sent for this partner this hour; wait");
        }

        if (!await phoneCount)
        {
            throw new FactorRefusedException(
                "hourly limit of codes sent to this phone number reached", ErrorKind.ResourceExhausted,
                "too many one-time codes sent to this holder's phone this hour; wait");
        }
    }

    /// <summary>Counts one code about to go to <paramref name="phone"/>; false once the hour's cap for it is passed.</summary>
    public Task<bool> CountPhoneAsync(string phone) => CountAsync("phone", codes.Mac("phone", phone), options.OtpSendsPerPhonePerHour);

    private async Task<bool> CountAsync(string scope, string id, int perHour)
    {
        var start = Stopwatch.GetTimestamp();
        try
        {
            var window = DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 3600;
            var n = (long)await redis.GetDatabase().ScriptEvaluateAsync(CountSend, new
            {
                key = (RedisKey)$"dtrust:{{sends:{scope}:{id}}}:{window.ToString(CultureInfo.InvariantCulture)}",
                windowMs = 3_601_000,
            });
            return n <= perHour;
        }
        finally
        {
            ServerMetrics.RedisSendCount.ObserveSince(start);
        }
    }
}
