using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using DTrust.SigningServer.Store;

namespace DTrust.SigningServer.Callers;

/// <summary>
/// Finds the caller behind an API key or client certificate. Lookups are cached for a few seconds, so that the hot
/// signing path does not read the store on every call; a revocation on this node takes effect at once, on other
/// nodes within <see cref="CacheLifetime"/>.
/// </summary>
public sealed class CallerDirectory(ICallerStore store, TimeProvider time)
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, (CallerRecord? Caller, DateTimeOffset Until)> _cache = new(StringComparer.Ordinal);

    public async Task<CallerRecord?> AuthenticateAsync(string? authorization, X509Certificate2? clientCertificate, CancellationToken ct)
    {
        byte[] hash;
        if (authorization is not null)
        {
            const string bearer = "Bearer ";
            if (!authorization.StartsWith(bearer, StringComparison.OrdinalIgnoreCase) || authorization.Length > 256)
            {
                return null;
            }

            hash = ApiKeys.Hash(authorization[bearer.Length..].Trim());
        }
        else if (clientCertificate is not null)
        {
            hash = ApiKeys.HashCertificate(clientCertificate.RawData);
        }
        else
        {
            return null;
        }

        var key = Convert.ToHexString(hash);
        var now = time.GetUtcNow();
        if (_cache.TryGetValue(key, out var cached) && cached.Until >= now)
        {
            return cached.Caller;
        }

        // Only known callers are cached: unknown keys are what an attacker sends, and must not grow the cache.
        var found = await store.FindCallerAsync(hash, ct);
        var caller = found is { RevokedAt: null } ? found : null;
        if (found is not null)
        {
            _cache[key] = (caller, now + CacheLifetime);
        }

        return caller;
    }

    /// <summary>Forget cached lookups (after a revocation on this node).</summary>
    public void Invalidate() => _cache.Clear();
}
