using DTrust.KeyVault;
using DTrust.Pki;
using DTrust.SigningServer.Hosting;
using DTrust.Tsa;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace DTrust.SigningServer.Health;

/// <summary>
/// Real probes of what signing depends on. Results carry no exception text or address: health answers on the
/// public listeners, and what is wrong inside belongs in the log.
/// </summary>
internal static class DependencyHealthChecks
{
    public const string TsaTag = "tsa";

    public static IHealthChecksBuilder AddDependencyChecks(this IHealthChecksBuilder checks, IEnumerable<string> domains)
    {
        foreach (var domain in domains)
        {
            string[] tags = domain == "tsa" ? [TsaTag] : [];
            checks.Add(new HealthCheckRegistration(
                "hsm:" + domain,
                sp => new HsmDomainCheck(sp.GetRequiredService<HsmVault>().Domain(domain)),
                HealthStatus.Unhealthy,
                tags,
                TimeSpan.FromSeconds(5)));
        }

        checks.Add(new HealthCheckRegistration(
            "redis", sp => new RedisCheck(sp.GetRequiredService<IConnectionMultiplexer>()), HealthStatus.Unhealthy, [], TimeSpan.FromSeconds(3)));
        checks.Add(new HealthCheckRegistration(
            "tsa", sp => ActivatorUtilities.CreateInstance<TsaCheck>(sp), HealthStatus.Unhealthy, [TsaTag], TimeSpan.FromSeconds(1)));
        return checks;
    }

    /// <summary>A round trip on a pooled session of the domain's own token (session info, master key lookup).</summary>
    private sealed class HsmDomainCheck(KeyDomain domain) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
        {
            try
            {
                await domain.ProbeAsync(ct);
                return HealthCheckResult.Healthy();
            }
            catch (KeyVaultException e)
            {
                return HealthCheckResult.Unhealthy(exception: e);
            }
        }
    }

    private sealed class RedisCheck(IConnectionMultiplexer redis) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
        {
            try
            {
                await redis.GetDatabase().PingAsync();
                return HealthCheckResult.Healthy();
            }
            catch (RedisException e)
            {
                return HealthCheckResult.Unhealthy(exception: e);
            }
            catch (TimeoutException e)
            {
                return HealthCheckResult.Unhealthy(exception: e);
            }
        }
    }

    /// <summary>The TSA may issue only inside its certificate's validity and, where required, on a synchronised clock.</summary>
    private sealed class TsaCheck(TsaIdentity tsa, IClockStatus clock, TimeProvider time) : IHealthCheck
    {
        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default)
        {
            var now = time.GetUtcNow().UtcDateTime;
            var certificate = tsa.Certificate;
            var result = now < certificate.NotBefore.ToUniversalTime() || now > certificate.NotAfter.ToUniversalTime()
                ? HealthCheckResult.Unhealthy("certificate not valid now")
                : !clock.IsSynchronized
                    ? HealthCheckResult.Unhealthy("clock not synchronised")
                    : HealthCheckResult.Healthy();
            return Task.FromResult(result);
        }
    }
}
