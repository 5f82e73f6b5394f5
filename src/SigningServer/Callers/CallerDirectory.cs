using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using DTrust.Store;

namespace DTrust.SigningServer.Callers;

/// <summary>
/// Finds the caller behind an API key or client certificate. Lookups are cached for a few seconds, so that the hot
/// signing path does not read the store on every call; a revocation on this node takes effect at once, on other
/// nodes within <see cref="CacheLifetime"/>.
/// </summary>
public sealed class CallerDirectory(ICallerStore store, TimeProvider time)
{
    public static readonly TimeSpan CacheLifetime = TimeSpan.FromSeconds(5);

    /// <summary>How long an unknown key is answered from memory: a flood of made-up keys must not all reach the store.</summary>
    public static readonly TimeSpan UnknownLifetime = TimeSpan.FromSeconds(2);

    /// <summary>Unknown keys remembered at most; past that the set starts again (it must not grow with the flood).</summary>
    public const int UnknownCapacity = 10_000;

    private readonly ConcurrentDictionary<string, (CallerRecord? Caller, DateTimeOffset Until)> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _unknown = new(StringComparer.Ordinal);

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

        if (_unknown.TryGetValue(key, out var unknownUntil) && unknownUntil >= now)
        {
            return null;
        }

        // Known callers in the main cache; unknown keys, which are what an attacker sends, in a short-lived set of
        // bounded size, so that the flood neither grows memory nor reaches the store more than once per key.
        var found = await store.FindCallerAsync(hash, ct);
        var caller = found is { RevokedAt: null } ? found : null;
        if (found is not null)
        {
            _cache[key] = (caller, now + CacheLifetime);
        }
        else
        {
            if (_unknown.Count >= UnknownCapacity)
            {
                _unknown.Clear();
            }

            _unknown[key] = now + UnknownLifetime;
        }

        return caller;
    }

    /// <summary>
    /// The partner an OAuth <c>client_id</c> names (its caller id), or null for anyone else, a revoked one included.
    /// Not an authentication: it only says whose registered redirect URIs and name a browser's request is judged by.
    /// </summary>
    public async Task<CallerRecord?> PartnerByIdAsync(string callerId, CancellationToken ct) =>
        string.IsNullOrEmpty(callerId) || callerId.Length > 100
            ? null
            : await store.GetCallerAsync(callerId, ct) is { RevokedAt: null, Role: CallerRole.Partner } partner ? partner : null;

    /// <summary>Forget cached lookups (after a revocation, or a new caller, on this node).</summary>
    public void Invalidate()
    {
        _cache.Clear();
        _unknown.Clear();
    }
}
