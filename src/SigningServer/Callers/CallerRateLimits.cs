using System.Threading.RateLimiting;
using DTrust.SigningServer.Hosting;

namespace DTrust.SigningServer.Callers;

/// <summary>
/// One token bucket per caller (its id), refilled every second: a caller's calls beyond the rate are refused at
/// once, never queued. Per node: behind a load balancer of N nodes a caller gets up to N times the rate.
/// </summary>
public sealed class CallerRateLimits(ServerOptions options) : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter = PartitionedRateLimiter.Create<string, string>(id =>
        RateLimitPartition.GetTokenBucketLimiter(id, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(1, options.Grpc.CallsPerSecondPerCaller),
            TokensPerPeriod = Math.Max(1, options.Grpc.CallsPerSecondPerCaller),
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    public bool TryTake(string callerId)
    {
        using var lease = _limiter.AttemptAcquire(callerId);
        return lease.IsAcquired;
    }

    public void Dispose() => _limiter.Dispose();
}
