using System.Collections.Concurrent;
using DTrust.Pki.Internal;
using Microsoft.Extensions.Caching.Memory;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Ocsp;

namespace DTrust.Pki;

/// <summary>
/// RFC 6960 responder for the issuing CAs, signed in the HSM by the responder key of the CA the request names (a
/// delegated responder, RFC 6960 §4.2.2.2). BouncyCastle parses the request and encodes the response; it never
/// holds a key.
/// <para>
/// A request for one certificate (what RFC 5019 clients, browsers and openssl send) is answered with a
/// pre-produced response: one signed answer per CA, CertID hash and serial, served byte for byte until it is
/// <see cref="PkiOptions.OcspRefreshMinutes"/> old, so a flood of requests costs no HSM signatures. A revocation
/// recorded on this node (<see cref="RevocationRecorded"/>) is seen by the very next request, one recorded by
/// another node within <see cref="PkiOptions.OcspRecheckSeconds"/> (a store read, not a signature). Requests for
/// several certificates are signed for the request, as before.
/// </para>
/// <para>
/// Every signature waits for a session asynchronously and cancellably, at most
/// <see cref="PkiOptions.OcspSigningConcurrency"/> per level at once (credential signing leases from the same pool),
/// for at most <see cref="PkiOptions.OcspSignTimeoutSeconds"/>; past that the answer is tryLater.
/// </para>
/// </summary>
public sealed class OcspResponder : IDisposable
{
    /// <summary>An OCSPRequest of a few certificates is a few hundred bytes; anything far larger is not one.</summary>
    public const int MaxRequestBytes = 16 * 1024;

    /// <summary>Enough for a client that asks about a whole chain, small enough that one request stays cheap.</summary>
    public const int MaxCertificatesPerRequest = 16;

    public const string RequestMediaType = "application/ocsp-request";
    public const string ResponseMediaType = "application/ocsp-response";

    private readonly IssuingCas _cas;
    private readonly IRevocationSource _store;
    private readonly PkiOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<OcspResponder> _log;
    private readonly MemoryCache _cache;
    private readonly ConcurrentDictionary<CacheKey, Lazy<Task<Produced>>> _producing = new();
    private readonly Dictionary<CredentialLevel, SemaphoreSlim> _signing;
    private readonly TimeSpan _refresh;

    // Counts revocations recorded: an answer read from the store before the latest one is checked again before it
    // is served (see ServeAsync). Revocations are rare, so nearly every answer is served without a store read.
    private long _revocations;

    public OcspResponder(IssuingCas cas, IRevocationSource store, PkiOptions options, TimeProvider time, ILogger<OcspResponder> log)
    {
        _cas = cas;
        _store = store;
        _options = options;
        _time = time;
        _log = log;
        _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = Math.Max(1, options.OcspCacheEntries) });
        _signing = PkiLevels.All.ToDictionary(l => l, _ => new SemaphoreSlim(Math.Max(1, options.OcspSigningConcurrency)));
        _refresh = TimeSpan.FromMinutes(Math.Clamp(options.OcspRefreshMinutes, 1, Math.Max(1, options.OcspValidityMinutes)));
    }

    /// <summary>
    /// Answers a DER OCSPRequest with a DER OCSPResponse. Never throws for bad input: a request that does not
    /// parse is answered malformedRequest, one naming none of our CAs unauthorized, a failure inside (store, HSM)
    /// internalError, a signature that could not be had in time tryLater. Only successful answers are signed.
    /// </summary>
    public async Task<byte[]> RespondAsync(ReadOnlyMemory<byte> request, CancellationToken ct)
    {
        if (!TryParse(request, out var parsed, out var items))
        {
            PkiMetrics.CountOcsp(OcspOutcome.Malformed);
            return Status(OcspRespStatus.MalformedRequest);
        }

        try
        {
            var ids = items.Select(i => i.GetCertID()).ToArray();
            var issuers = ids.Select(FindIssuer).ToArray();
            if (issuers.FirstOrDefault(i => i is not null) is not { } responder)
            {
                // RFC 6960 §2.3: a request naming none of our CAs is answered unauthorized, unsigned. Signing it would
                // let anyone spend the HSM's sessions on answers about certificates we never issued.
                PkiLog.OcspUnauthorized(_log);
                PkiMetrics.CountOcsp(OcspOutcome.Unauthorized);
                return Status(OcspRespStatus.Unauthorized);
            }

            // The nonce of a single-certificate request is ignored (RFC 5019 §2.2.1 allows it, and production
            // responders do the same): echoing it would need a signature per request, which is exactly what anyone
            // on the network could then make the HSM do. A pre-produced answer is as fresh as OcspRefreshMinutes;
            // openssl warns "no nonce in response" and accepts it. Requests for several certificates are signed
            // for the request anyway, and there the nonce is echoed.
            return ids.Length == 1
                ? await ServeAsync(responder, ids[0], ct)
                : await SignedResponseAsync(parsed, responder, ids, issuers, ct);
        }
        catch (TimeoutException e)
        {
            PkiLog.OcspSignTimedOut(_log, e);
            PkiMetrics.CountOcsp(OcspOutcome.TryLater);
            return Status(OcspRespStatus.TryLater);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            PkiLog.OcspFailed(_log, e);
            PkiMetrics.CountOcsp(OcspOutcome.Failed);
            return Status(OcspRespStatus.InternalError);
        }
    }

    /// <summary>
    /// The responder's answer about one certificate we issued, as a client asking over HTTP would get it (a full DER
    /// OCSPResponse): validation data handed out with signatures, so that they verify without us later.
    /// </summary>
    public Task<byte[]> RespondForAsync(System.Security.Cryptography.X509Certificates.X509Certificate2 issuer, byte[] serial, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(issuer);
        var id = new CertificateID(
            CertificateID.DigestSha1, Org.BouncyCastle.Security.DotNetUtilities.FromX509Certificate(issuer), new Org.BouncyCastle.Math.BigInteger(1, serial));
        var generator = new OcspReqGenerator();
        generator.AddRequest(id);
        return RespondAsync(generator.Generate().GetEncoded(), ct);
    }

    /// <summary>
    /// Call once the store records a revocation (REVOCATION_IN_PROGRESS), before the revoking call returns: from
    /// then on no request is answered from a store read made before it.
    /// </summary>
    public void RevocationRecorded() => Interlocked.Increment(ref _revocations);

    public void Dispose()
    {
        _cache.Dispose();
        foreach (var gate in _signing.Values)
        {
            gate.Dispose();
        }
    }

    /// <summary>
    /// The pre-produced answer for one CertID: the cached one if it is fresh and no revocation was recorded since
    /// its store read (or the store still says the same), otherwise one signed now (one signature however many
    /// requests wait for it).
    /// </summary>
    private async Task<byte[]> ServeAsync(IssuingCa ca, CertificateID id, CancellationToken ct)
    {
        var key = new CacheKey(ca.Level, Convert.ToHexString(id.ToAsn1Object().HashAlgorithm.GetDerEncoded()), Serial(id));
        var arrived = Interlocked.Read(ref _revocations);
        for (var attempt = 0; ; attempt++)
        {
            var signed = false;
            if (!_cache.TryGetValue(key, out Produced? answer) || answer is null || !Fresh(answer))
            {
                var producing = _producing.GetOrAdd(key, k => new Lazy<Task<Produced>>(() => ProduceAsync(k, ca, id)));
                answer = await producing.Value.WaitAsync(ct);
                signed = true;
            }

            // Revoked is final. Otherwise: a revocation recorded on this node after this answer's store read began
            // may be this certificate's, so this request waits for a new read; and every OcspRecheckSeconds one
            // request reads again (the others are served meanwhile) for revocations made on other nodes.
            if (answer.Revoked || (Interlocked.Read(ref answer.ReadAt) >= arrived && !ClaimRecheck(answer)))
            {
                PkiMetrics.CountOcsp(signed ? OcspOutcome.Signed : OcspOutcome.Cached);
                return answer.Der;
            }

            // The same status keeps the answer (no signature), another replaces it.
            var now = Interlocked.Read(ref _revocations);
            Interlocked.Exchange(ref answer.CheckedAt, _time.GetUtcNow().UtcTicks);
            var status = await StatusAsync(ca.Level, id, ct);
            if (Kind(status) == answer.Kind)
            {
                InterlockedMax(ref answer.ReadAt, now);
                PkiMetrics.CountOcsp(signed ? OcspOutcome.Signed : OcspOutcome.Cached);
                return answer.Der;
            }

            _cache.Remove(key);
            if (attempt >= 2)
            {
                // Revocations keep arriving while this request is answered: answer it alone, uncached.
                var single = await WithTimeoutAsync(t => SignAsync(ca, [(id, status)], null, t), ct);
                PkiMetrics.CountOcsp(OcspOutcome.Signed);
                return single;
            }
        }
    }

    /// <summary>
    /// Reads the status and signs a single answer, with a timeout of its own rather than the first requester's
    /// token: other requests wait for the same answer, and one client going away must not fail them.
    /// </summary>
    private async Task<Produced> ProduceAsync(CacheKey key, IssuingCa ca, CertificateID id)
    {
        try
        {
            await Task.Yield();
            var readAt = Interlocked.Read(ref _revocations);
            var checkedAt = _time.GetUtcNow();
            var (status, der) = await WithTimeoutAsync(
                async t =>
                {
                    var status = await StatusAsync(ca.Level, id, t);
                    return (status, await SignAsync(ca, [(id, status)], null, t));
                },
                CancellationToken.None);
            var answer = new Produced(der, Now(), Kind(status), readAt, checkedAt.UtcTicks);
            var unknown = answer.Kind == AnswerKind.Unknown;
            _cache.Set(key, answer, new MemoryCacheEntryOptions
            {
                Size = 1,

                // Made-up serials must not push the answers relying parties actually need out of the cache.
                Priority = unknown ? CacheItemPriority.Low : CacheItemPriority.Normal,
                AbsoluteExpirationRelativeToNow = unknown ? UnknownLifetime : _refresh,
            });
            return answer;
        }
        finally
        {
            _producing.TryRemove(key, out _);
        }
    }

    /// <summary>Runs <paramref name="work"/> for at most the signing timeout; running out is a <see cref="TimeoutException"/>.</summary>
    private async Task<T> WithTimeoutAsync<T>(Func<CancellationToken, Task<T>> work, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(Math.Max(1, _options.OcspSignTimeoutSeconds)));
        try
        {
            return await work(timeout.Token);
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException("no OCSP answer within the signing timeout", e);
        }
    }

    private async Task<byte[]> SignedResponseAsync(
        OcspReq request, IssuingCa responder, CertificateID[] ids, IssuingCa?[] issuers, CancellationToken ct)
    {
        // One response has one signer. It is the responder of the first CA a request names; a CertID of another
        // CA in the same request is answered unknown, because this responder is not authorised for that CA.
        X509Extensions? extensions = null;
        if (request.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNonce) is { } nonce)
        {
            var generator = new X509ExtensionsGenerator();
            generator.AddExtension(OcspObjectIdentifiers.PkixOcspNonce, false, nonce.GetOctets());
            extensions = generator.Generate();
        }

        var der = await WithTimeoutAsync(
            async t =>
            {
                var answers = new List<(CertificateID, CertificateStatus)>(ids.Length);
                for (var i = 0; i < ids.Length; i++)
                {
                    answers.Add((ids[i], issuers[i] == responder ? await StatusAsync(responder.Level, ids[i], t) : new UnknownStatus()));
                }

                return await SignAsync(responder, answers, extensions, t);
            },
            ct);
        PkiMetrics.CountOcsp(OcspOutcome.Signed);
        return der;
    }

    /// <summary>
    /// BouncyCastle's generator signs synchronously, which would hold a request thread in the HSM pool's
    /// synchronous wait (the same pool credential signing leases from). So it is asked to sign with a placeholder,
    /// and the real signature over the same ResponseData is awaited from the pool, cancellable, and put in its place.
    /// </summary>
    private async Task<byte[]> SignAsync(
        IssuingCa responder, IReadOnlyList<(CertificateID Id, CertificateStatus Status)> answers, X509Extensions? extensions, CancellationToken ct)
    {
        var now = Now();
        var nextUpdate = now.AddMinutes(_options.OcspValidityMinutes);
        var generator = new BasicOcspRespGenerator(responder.BcOcspCertificate.GetPublicKey());
        foreach (var (id, status) in answers)
        {
            generator.AddResponse(id, status, now.UtcDateTime, nextUpdate.UtcDateTime, null);
        }

        if (extensions is not null)
        {
            generator.SetResponseExtensions(extensions);
        }

        var factory = new HsmSignatureFactory(responder.OcspKey);
        var draft = generator.Generate(new PlaceholderSignatureFactory(factory.AlgorithmDetails), [responder.BcOcspCertificate], now.UtcDateTime);
        var structure = BasicOcspResponse.GetInstance(Asn1Object.FromByteArray(draft.GetEncoded()));

        var gate = _signing[responder.Level];
        await gate.WaitAsync(ct);
        byte[] signature;
        try
        {
            signature = await factory.SignAsync(structure.TbsResponseData.GetDerEncoded(), ct);
        }
        finally
        {
            gate.Release();
        }

        var basic = new BasicOcspResp(new BasicOcspResponse(
            structure.TbsResponseData, structure.SignatureAlgorithm, new DerBitString(signature), structure.Certs));
        return new OCSPRespGenerator().Generate(OcspRespStatus.Successful, basic).GetEncoded();
    }

    /// <summary>True for the one request that is to read the store again for an answer last read long enough ago.</summary>
    private bool ClaimRecheck(Produced answer)
    {
        var last = Interlocked.Read(ref answer.CheckedAt);
        var now = _time.GetUtcNow().UtcTicks;
        return now - last >= TimeSpan.FromSeconds(Math.Max(1, _options.OcspRecheckSeconds)).Ticks
            && Interlocked.CompareExchange(ref answer.CheckedAt, now, last) == last;
    }

    private TimeSpan UnknownLifetime => TimeSpan.FromSeconds(Math.Clamp(_options.OcspUnknownCacheSeconds, 1, _refresh.TotalSeconds));

    private bool Fresh(Produced answer) =>
        _time.GetUtcNow() - answer.ProducedAt < (answer.Kind == AnswerKind.Unknown ? UnknownLifetime : _refresh);

    /// <summary>Whole seconds: GeneralizedTime in OCSP carries no fractions (RFC 6960 §4.2.2.1, RFC 5280 §4.1.2.5.2).</summary>
    private DateTimeOffset Now() => DateTimeOffset.FromUnixTimeSeconds(_time.GetUtcNow().ToUnixTimeSeconds());

    /// <summary>The issuing CA whose name and key hash the CertID carries, in its own hash algorithm; null if none.</summary>
    private IssuingCa? FindIssuer(CertificateID id)
    {
        foreach (var ca in _cas.All)
        {
            try
            {
                if (id.MatchesIssuer(ca.BcCertificate))
                {
                    return ca;
                }
            }
            catch (OcspException)
            {
                // A hash algorithm BouncyCastle does not know cannot name any of our CAs.
                return null;
            }
        }

        return null;
    }

    /// <summary>
    /// Revoked from the moment revocation starts (REVOCATION_IN_PROGRESS), as the CRL lists it; a serial the store
    /// does not know is unknown, never good.
    /// </summary>
    private async Task<CertificateStatus> StatusAsync(CredentialLevel level, CertificateID id, CancellationToken ct)
    {
        var standing = await _store.StandingAsync(level, Serial(id), ct);
        if (!standing.Known)
        {
            return new UnknownStatus();
        }

        if (standing.Revocation is { } revoked)
        {
            var reason = revoked.Reason is >= 0 and <= 10 and not 7 ? revoked.Reason : CrlReason.Unspecified;
            return new RevokedStatus(DateTimeOffset.FromUnixTimeSeconds(revoked.RevokedAt.ToUnixTimeSeconds()).UtcDateTime, reason);
        }

        return CertificateStatus.Good;
    }

    private static string Serial(CertificateID id) => CaSigning.SerialHex(id.SerialNumber.ToByteArray());

    private static AnswerKind Kind(CertificateStatus status) => status switch
    {
        RevokedStatus => AnswerKind.Revoked,
        UnknownStatus => AnswerKind.Unknown,
        _ => AnswerKind.Good,
    };

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (current < value && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }

    private bool TryParse(ReadOnlyMemory<byte> der, out OcspReq request, out Req[] items)
    {
        request = null!;
        items = [];
        if (der.Length is 0 or > MaxRequestBytes)
        {
            PkiLog.OcspMalformed(_log, "bytes", der.Length);
            return false;
        }

        try
        {
            request = new OcspReq(der.ToArray());
            items = request.GetRequestList();
            _ = items.Select(i => i.GetCertID().SerialNumber).ToArray();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // BouncyCastle's parser reports hostile input with many exception types (IOException, ArgumentException,
            // InvalidCastException, …): whatever it is, the request is malformed.
            PkiLog.OcspUnparsable(_log, e);
            return false;
        }

        if (items.Length is 0 or > MaxCertificatesPerRequest)
        {
            PkiLog.OcspMalformed(_log, "certificates asked", items.Length);
            return false;
        }

        return true;
    }

    private static byte[] Status(int status) => new OCSPRespGenerator().Generate(status, null).GetEncoded();

    /// <summary>The CertID as far as it varies for one CA: its hash AlgorithmIdentifier (DER, hex) and the serial.</summary>
    private readonly record struct CacheKey(CredentialLevel Level, string HashAlgorithm, string Serial);

    private enum AnswerKind
    {
        Good,
        Revoked,
        Unknown,
    }

    /// <summary>
    /// A signed single answer; <see cref="ReadAt"/> is the revocation count when its status was last read,
    /// <see cref="CheckedAt"/> the time (UTC ticks) of that read.
    /// </summary>
    private sealed class Produced(byte[] der, DateTimeOffset producedAt, AnswerKind kind, long readAt, long checkedAt)
    {
        public long ReadAt = readAt;

        public long CheckedAt = checkedAt;

        public byte[] Der { get; } = der;

        public DateTimeOffset ProducedAt { get; } = producedAt;

        public AnswerKind Kind { get; } = kind;

        /// <summary>Revoked is final: no later revocation can change it, so it needs no second read.</summary>
        public bool Revoked => Kind == AnswerKind.Revoked;
    }
}
