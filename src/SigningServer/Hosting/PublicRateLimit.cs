using System.Net;
using System.Net.Sockets;
using System.Threading.RateLimiting;
using DTrust.Pki;

namespace DTrust.SigningServer.Hosting;

/// <summary>
/// The public HTTP listener's endpoints (OCSP, CRLs, CA certificates, the HTTP TSA) answer anyone, and OCSP and the
/// TSA can cost HSM signatures: a token bucket per client address (<see cref="PublicRateLimitOptions"/>) turns a
/// flood from one source away with 429 before any of it reaches the responder. Run after routing and the listener
/// separation, so requests for other listeners' endpoints spend no permits.
/// </summary>
internal static class PublicRateLimit
{
    public const string Policy = "public-http";

    /// <summary>
    /// Refusals held in the tarpit at once, over all addresses; beyond it they are answered at once. Held requests
    /// keep their connections, and Kestrel's connection limit is shared with the gRPC listener: a flood from many
    /// addresses must not fill it with waiting 429s.
    /// </summary>
    public const int MaxHeld = 1000;

    public static IServiceCollection AddPublicRateLimit(this IServiceCollection services, PublicRateLimitOptions options) =>
        services.AddRateLimiter(o =>
        {
            var tarpit = new Tarpit(MaxHeld);
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = async (context, ct) =>
            {
                context.HttpContext.Response.Headers.RetryAfter = "1";
                if (context.HttpContext.Request.Path.StartsWithSegments("/ocsp", StringComparison.Ordinal))
                {
                    PkiMetrics.CountOcsp(OcspOutcome.RateLimited);
                }

                // A tarpit, not a queue: the request holds no permit and does no work while it waits, but the client's
                // connection carries nothing else meanwhile.
                await tarpit.HoldAsync(TimeSpan.FromMilliseconds(options.RejectDelayMilliseconds), ct);
            };
            o.AddPolicy(Policy, http => options.Enabled
                ? RateLimitPartition.GetTokenBucketLimiter(Partition(http.Connection.RemoteIpAddress), _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = Math.Max(1, options.Burst),
                    TokensPerPeriod = Math.Max(1, options.PermitsPerSecond),
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    AutoReplenishment = true,

                    // A queue would hold the flood's connections open on the server: refuse at once instead.
                    QueueLimit = 0,
                })
                : RateLimitPartition.GetNoLimiter(""));
        });

    public static TBuilder WithPublicRateLimit<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.RequireRateLimiting(Policy);

    /// <summary>An IPv4 address, or an IPv6 /64: one host commonly holds a whole /64 and could rotate through it.</summary>
    internal static string Partition(IPAddress? address)
    {
        if (address is null)
        {
            return "";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4().ToString();
        }

        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return address.ToString();
        }

        var bytes = address.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }
}

/// <summary>Delays refusals, at most <paramref name="capacity"/> at once; the ones beyond are not delayed.</summary>
internal sealed class Tarpit(int capacity)
{
    private int _held;

    /// <summary>Waits <paramref name="delay"/> if there is room; true if it held the caller. A client gone ends the wait.</summary>
    public async Task<bool> HoldAsync(TimeSpan delay, CancellationToken ct)
    {
        if (delay <= TimeSpan.Zero)
        {
            return false;
        }

        try
        {
            if (Interlocked.Increment(ref _held) > capacity)
            {
                return false;
            }

            await Task.Delay(delay, ct);
        }
        catch (OperationCanceledException)
        {
            // The client went away: nothing to answer.
        }
        finally
        {
            Interlocked.Decrement(ref _held);
        }

        return true;
    }
}
