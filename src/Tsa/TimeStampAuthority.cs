using System.Security.Cryptography;
using DTrust.Tsa.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DTrust.Tsa;

/// <summary>
/// RFC 3161 time-stamp authority: DER TimeStampReq in, DER TimeStampResp out. Thread-safe; one instance serves
/// all requests. Bad input never throws: it gets a rejection the client can read. Options are read once, here.
/// </summary>
/// <example>
/// <code>
/// var tsa = new TimeStampAuthority(new TsaOptions { TsaName = cert.SubjectName }, new TsaSigner(cert, hsmKey, chain),
///     TimeProvider.System, clockMonitor, logger);
/// var result = tsa.Respond(requestBody);   // result.Response is the application/timestamp-reply body
/// // With an HSM key, give the signer an asynchronous path and await it instead: no thread waits for a session.
/// // new TsaSigner(cert, hsmKey, chain) { SignHashAsync = (digest, ct) => tsaKey.SignDigestAsync(digest, scheme, ct) }
/// var result2 = await tsa.RespondAsync(requestBody, ct);
/// audit.Record(result.Status, result.FailureInfo, result.SerialNumber, result.GenTime);
/// </code>
/// </example>
public sealed class TimeStampAuthority
{
    /// <summary>Serial length: 16 bytes with the top bit clear and the next set, i.e. 126 random bits, always
    /// positive and always 127 bits long — unique across nodes without coordination.</summary>
    internal const int SerialLength = 16;

    /// <summary>Sent to clients on any internal failure: the details go to the log, not to the network.</summary>
    private const string SystemFailureText = "the TSA could not issue a token";

    private readonly string _defaultPolicy;
    private readonly TsaSigner _signer;
    private readonly IClockStatus _clockStatus;
    private readonly ILogger _logger;
    private readonly HashSet<string> _acceptedPolicies;
    private readonly TstInfoEncoder _tstInfo;
    private readonly TokenSigner _tokenSigner;
    private readonly MonotonicGenTime _genTime;

    public TimeStampAuthority(
        TsaOptions options,
        TsaSigner signer,
        TimeProvider timeProvider,
        IClockStatus? clockStatus = null,
        ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(timeProvider);
        options.Validate();

        _defaultPolicy = options.PolicyOid;
        _signer = signer;
        _clockStatus = clockStatus ?? AlwaysSynchronizedClock.Instance;
        _logger = logger ?? NullLogger.Instance;
        _acceptedPolicies = new HashSet<string>(options.AcceptedPolicies.Append(options.PolicyOid), StringComparer.Ordinal);
        _tstInfo = new TstInfoEncoder(_acceptedPolicies, options.Accuracy, options.TsaName, options.Qualified);
        _tokenSigner = new TokenSigner(signer, options);
        _genTime = new MonotonicGenTime(timeProvider, options.Accuracy);
    }

    /// <summary>Answers a DER TimeStampReq. Never throws for any input.</summary>
    public TsaResult Respond(ReadOnlySpan<byte> derRequest) =>
        Parse(derRequest, out var request) ?? Issue(request!);

    /// <summary>
    /// As <see cref="Respond"/>, signing through <see cref="TsaSigner.SignHashAsync"/> when the signer has one, so
    /// that no thread blocks while the HSM's sessions are busy. Never throws for any input; throws
    /// <see cref="OperationCanceledException"/> only when <paramref name="ct"/> is cancelled.
    /// </summary>
    public Task<TsaResult> RespondAsync(ReadOnlyMemory<byte> derRequest, CancellationToken ct = default) =>
        Parse(derRequest.Span, out var request) is { } refused ? Task.FromResult(refused) : IssueAsync(request!, ct);

    /// <summary>
    /// Stamps a digest without a DER request, for the in-process signing flow (no nonce, no reqPolicy).
    /// An unsupported algorithm or a digest of the wrong length gives a rejection, as over the wire.
    /// </summary>
    public TsaResult Timestamp(HashAlgorithmName hashAlgorithm, ReadOnlySpan<byte> digest, bool includeCertificate = true) =>
        DigestRequest(hashAlgorithm, digest, includeCertificate, out var request) ?? Issue(request!);

    /// <summary>As <see cref="Timestamp"/>, signing asynchronously like <see cref="RespondAsync"/>.</summary>
    public Task<TsaResult> TimestampAsync(
        HashAlgorithmName hashAlgorithm, ReadOnlyMemory<byte> digest, bool includeCertificate = true, CancellationToken ct = default) =>
        DigestRequest(hashAlgorithm, digest.Span, includeCertificate, out var request) is { } refused
            ? Task.FromResult(refused)
            : IssueAsync(request!, ct);

    /// <summary>Parses a request; returns the refusal to send, or null with <paramref name="request"/> set.</summary>
    private TsaResult? Parse(ReadOnlySpan<byte> derRequest, out TimeStampRequest? request)
    {
        request = null;
        try
        {
            request = TimeStampRequestParser.Parse(derRequest, _acceptedPolicies);
            return null;
        }
        catch (RequestRefusedException e)
        {
            return Refuse(e.Failure, e.Message);
        }
#pragma warning disable CA1031 // A parser defect must still end in an answer, not an exception in the host.
        catch (Exception e) when (e is not OutOfMemoryException)
#pragma warning restore CA1031
        {
            TsaLog.SystemFailure(_logger, e);
            return Reject(PkiFailureInfo.SystemFailure, SystemFailureText);
        }
    }

    private TsaResult? DigestRequest(
        HashAlgorithmName hashAlgorithm, ReadOnlySpan<byte> digest, bool includeCertificate, out TimeStampRequest? request)
    {
        request = null;
        try
        {
            var imprint = TimeStampRequestParser.EncodeMessageImprint(hashAlgorithm, digest);
            request = new TimeStampRequest(hashAlgorithm, imprint, Policy: null, Nonce: null, includeCertificate);
            return null;
        }
        catch (RequestRefusedException e)
        {
            return Refuse(e.Failure, e.Message);
        }
    }

    private TsaResult Issue(TimeStampRequest request)
    {
        try
        {
            if (Begin(request, out var pending) is { } rejected)
            {
                return rejected;
            }

            return Granted(pending!, _tokenSigner.Sign(pending!.TstInfo, request.CertReq));
        }
#pragma warning disable CA1031 // The contract is a systemFailure answer for any internal error (HSM, encoder), never a throw.
        catch (Exception e) when (e is not OutOfMemoryException)
#pragma warning restore CA1031
        {
            TsaLog.SystemFailure(_logger, e);
            return Reject(PkiFailureInfo.SystemFailure, SystemFailureText);
        }
    }

    private async Task<TsaResult> IssueAsync(TimeStampRequest request, CancellationToken ct)
    {
        try
        {
            if (Begin(request, out var pending) is { } rejected)
            {
                return rejected;
            }

            var token = await _tokenSigner.SignAsync(pending!.TstInfo, request.CertReq, ct).ConfigureAwait(false);
            return Granted(pending, token);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The caller gave up (client gone): nothing to answer, and not a TSA failure to log.
            throw;
        }
#pragma warning disable CA1031 // The contract is a systemFailure answer for any internal error (HSM, encoder), never a throw.
        catch (Exception e) when (e is not OutOfMemoryException)
#pragma warning restore CA1031
        {
            TsaLog.SystemFailure(_logger, e);
            return Reject(PkiFailureInfo.SystemFailure, SystemFailureText);
        }
    }

    /// <summary>Everything before the signature: clock, serial, genTime, TSTInfo. Returns a rejection or null.</summary>
    private TsaResult? Begin(TimeStampRequest request, out PendingToken? pending)
    {
        pending = null;
        if (!_clockStatus.IsSynchronized)
        {
            TsaLog.ClockUnsynchronized(_logger);
            return Reject(PkiFailureInfo.TimeNotAvailable, "the TSA clock is not synchronised");
        }

        Span<byte> serial = stackalloc byte[SerialLength];
        RandomNumberGenerator.Fill(serial);
        serial[0] = (byte)((serial[0] & 0x3F) | 0x40);

        var genTime = _genTime.Next(out var steppedBack);
        if (steppedBack)
        {
            TsaLog.ClockSteppedBack(_logger);
        }

        // Verifiers reject a token whose genTime lies outside the TSA certificate; issuing it would only hide
        // an expired certificate or a wild clock until someone relies on the token.
        if (genTime < _signer.NotBefore || genTime > _signer.NotAfter)
        {
            TsaLog.CertificateNotValid(_logger, genTime, _signer.NotBefore, _signer.NotAfter);
            return Reject(PkiFailureInfo.SystemFailure, SystemFailureText);
        }

        var policy = request.Policy ?? _defaultPolicy;
        var tstInfo = _tstInfo.Encode(policy, request.MessageImprint.Span, serial, genTime,
            request.Nonce is { } nonce ? nonce.Span : default);
        pending = new PendingToken(tstInfo, Convert.ToHexString(serial), genTime, policy);
        return null;
    }

    private TsaResult Granted(PendingToken pending, byte[] token)
    {
        var (response, tokenOffset) = ResponseEncoder.Granted(token);
        TsaLog.Issued(_logger, pending.SerialHex, pending.GenTime);
        return new TsaResult(PkiStatus.Granted, PkiFailureInfo.None, null, response, tokenOffset, pending.SerialHex,
            pending.GenTime, pending.Policy);
    }

    private TsaResult Refuse(PkiFailureInfo failure, string reason)
    {
        TsaLog.Refused(_logger, failure, reason);
        return Reject(failure, reason);
    }

    private static TsaResult Reject(PkiFailureInfo failure, string text) =>
        new(PkiStatus.Rejection, failure, text, ResponseEncoder.Rejected(failure, text));

    private sealed record PendingToken(byte[] TstInfo, string SerialHex, DateTimeOffset GenTime, string Policy);
}
