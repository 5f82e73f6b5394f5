using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.KeyVault;
using DTrust.Pki;
using DTrust.SigningServer.Credentials;
using DTrust.SigningServer.Errors;
using DTrust.SigningServer.Hosting;
using DTrust.Store;
using DTrust.Tsa;

namespace DTrust.SigningServer.Signing;

/// <summary>What AuthorizeSignature answers.</summary>
public sealed record Authorization(string ChallengeId, bool NeedsOtp, DateTimeOffset ExpiresAt);

/// <summary>How the partner wants the signatures.</summary>
public sealed record SignatureRequest(
    string CredentialId,
    string ChallengeId,
    string? Otp,
    string? Pin,
    IReadOnlyList<ReadOnlyMemory<byte>> Hashes,
    HashAlgorithmName Hash,
    SignatureFormat Format,
    bool Timestamp,
    bool RsaPkcs1,
    bool EcdsaP1363);

public enum SignatureFormat
{
    Raw,
    Cades,
    Pades,
}

/// <summary>One signature per hash, the chain, and with RAW + time-stamp the tokens beside them.</summary>
public sealed record SignatureResult(
    IReadOnlyList<byte[]> Signatures, IReadOnlyList<byte[]> Chain, IReadOnlyList<byte[]> TimestampTokens, CredentialLevel Level);

/// <summary>
/// The signing flow, in the order the service reads: validate → credential and holder → challenge (Redis) →
/// level policy → vault (one unwrap per call) → time-stamps → audit. Any dependency that fails stops it before a
/// signature leaves the server (fail closed); a signature is returned only once its audit entry is durable.
/// </summary>
public sealed class SigningFlow(
    CredentialRegistry registry,
    ICredentialStore store,
    ChallengeStore challenges,
    ICodeFailureLog codeFailures,
    OneTimeCodes codes,
    IOtpSender otpSender,
    HsmVault vault,
    TimeStampAuthority tsa,
    ICertificateAuthority ca,
    SignerCache signers,
    AuditTrail audit,
    SigningOptions options,
    TimeProvider time)
{
    public async Task<Authorization> AuthorizeAsync(
        CallerRecord partner, string credentialId, IReadOnlyList<ReadOnlyMemory<byte>> hashes, HashAlgorithmName hash,
        string? description, CancellationToken ct)
    {
        HashRules.Validate(hashes, hash, options.MaxHashesPerChallenge);
        if (description is { Length: > 200 })
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "description is longer than 200 characters");
        }

        // The description goes into the holder's SMS and the audit: a line break, an escape or a bidi override there
        // could make the message say something the partner did not put in the evidence.
        if (description is not null && description.Any(IsLayoutControl))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "description contains control characters");
        }

        var credential = await CredentialAsync(partner, credentialId, ct);
        try
        {
            var authorization = await AuthorizeAsync(partner, credential, hashes, hash, description, ct);
            ServerMetrics.CountAuthorization(credential.Level, Outcome.Done);
            return authorization;
        }
        catch (Exception e)
        {
            ServerMetrics.CountAuthorization(credential.Level, ServerMetrics.OutcomeOf(e));
            throw;
        }
    }

    public async Task<SignatureResult> SignAsync(CallerRecord partner, SignatureRequest request, CancellationToken ct)
    {
        HashRules.Validate(request.Hashes, request.Hash, options.MaxHashesPerChallenge);
        if (string.IsNullOrEmpty(request.ChallengeId))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "challenge_id is required");
        }

        var pin = Pins.Presented(request.Pin, "activation PIN");
        try
        {
            var credential = await CredentialAsync(partner, request.CredentialId, ct);
            try
            {
                var result = await SignAsync(partner, credential, request, pin, ct);
                ServerMetrics.CountSignatures(credential.Level, request.Format, Outcome.Done, request.Hashes.Count);
                return result;
            }
            catch (Exception e)
            {
                ServerMetrics.CountSignatures(credential.Level, request.Format, ServerMetrics.OutcomeOf(e), request.Hashes.Count);
                throw;
            }
        }
        finally
        {
            Array.Clear(pin);
        }
    }

    /// <summary>QUALIFIED always needs the code; ADVANCED unless the holder consented to one factor; SIMPLE never.</summary>
    public static bool NeedsOtp(CredentialRecord credential) => credential.Level switch
    {
        CredentialLevel.Qualified => true,
        CredentialLevel.Advanced => credential.OneFactorConsentAt is null,
        _ => false,
    };

    private async Task<Authorization> AuthorizeAsync(
        CallerRecord partner, CredentialRecord credential, IReadOnlyList<ReadOnlyMemory<byte>> hashes, HashAlgorithmName hash,
        string? description, CancellationToken ct)
    {
        var holder = await SignableAsync(partner, credential, "signature.authorize", ct);
        var needsOtp = NeedsOtp(credential);
        if (needsOtp)
        {
            await RequireCodeGuessesLeftAsync(partner, credential, "signature.authorize", ct);
            await RequireSendsLeftAsync(partner, credential, holder.Phone);
        }

        var id = Callers.ApiKeys.NewId("chal");
        var code = needsOtp ? OneTimeCodes.NewCode() : null;
        var lifetime = TimeSpan.FromSeconds(options.ChallengeSeconds);
        var listDigest = HashRules.ListDigest(hashes, hash);
        var expiresAt = time.GetUtcNow() + lifetime;
        var challenge = new Challenge(id, partner.Id, credential.Id, listDigest, hashes.Count, code is null ? null : codes.Mac(id, code), expiresAt);
        if (!await challenges.CreateAsync(challenge, options.OtpAttempts, options.ChallengesPerMinute))
        {
            await Refuse(partner, credential.Id, "signature.authorize", "too many challenges");
            throw new DTrustException(ErrorKind.ResourceExhausted, "too many authorizations for this credential; wait a minute");
        }

        string? message = null;
        if (code is not null)
        {
            try
            {
                var text = OtpText(partner.Name, hashes.Count, description, code, lifetime);
                message = OtpText(partner.Name, hashes.Count, description, new string('*', code.Length), lifetime);
                await otpSender.SendAsync(new OtpMessage(id, credential.Id, holder.Phone, code, text), ct);
                ServerMetrics.CountOtp(OtpOutcome.Sent);
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
            {
                ServerMetrics.CountOtp(OtpOutcome.SendFailed);
                await challenges.DeleteAsync(credential.Id, id);
                throw new DTrustException(ErrorKind.Unavailable, "the one-time code could not be sent; retry", e);
            }
        }

        await audit.RecordAsync(
            partner.Id, partner.Tenant, credential.Id, "signature.authorized",
            details: new { challenge = id, hashes = hashes.Count, list = listDigest, otp = needsOtp, description, message }, ct: ct);
        return new Authorization(id, needsOtp, expiresAt);
    }

    /// <summary>Control characters, format characters (bidi overrides, zero-width) and line or paragraph separators.</summary>
    private static bool IsLayoutControl(char c) => char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Control
        or System.Globalization.UnicodeCategory.Format or System.Globalization.UnicodeCategory.LineSeparator
        or System.Globalization.UnicodeCategory.ParagraphSeparator;

    /// <summary>The SMS text; the audit keeps the same text with the code masked, so it shows what the holder read.</summary>
    private static string OtpText(string partnerName, int documents, string? description, string code, TimeSpan lifetime) =>
        $"DTrust: {partnerName} asks you to sign {documents} document(s)" +
        (string.IsNullOrWhiteSpace(description) ? "" : $" ({description})") +
        $". Code {code}, valid {lifetime.TotalMinutes:0} minutes. Never share it.";

    /// <summary>
    /// Per partner and per phone number, codes sent in the current hour: each one is an SMS someone pays for, and a
    /// partner (or several, for one phone) could otherwise bomb a phone or run up toll fraud.
    /// </summary>
    private async Task RequireSendsLeftAsync(CallerRecord partner, CredentialRecord credential, string phone)
    {
        // Both counters in one round trip's time (they live in different slots, so not one script).
        var partnerCount = challenges.CountSendAsync("partner", partner.Id, options.OtpSendsPerPartnerPerHour);
        var phoneCount = challenges.CountSendAsync("phone", codes.Mac("phone", phone), options.OtpSendsPerPhonePerHour);
        await Task.WhenAll(partnerCount, phoneCount);
        if (!await partnerCount)
        {
            await Refuse(partner, credential.Id, "signature.authorize", "hourly limit of codes sent for this partner reached");
            throw new DTrustException(ErrorKind.ResourceExhausted, "too many one-time codes sent for this partner this hour; wait");
        }

        // The phone number is keyed by its MAC: Redis need not hold the holders' numbers.
        if (!await phoneCount)
        {
            await Refuse(partner, credential.Id, "signature.authorize", "hourly limit of codes sent to this phone number reached");
            throw new DTrustException(ErrorKind.ResourceExhausted, "too many one-time codes sent to this holder's phone this hour; wait");
        }
    }

    private async Task<SignatureResult> SignAsync(
        CallerRecord partner, CredentialRecord credential, SignatureRequest request, byte[] pin, CancellationToken ct)
    {
        await SignableAsync(partner, credential, "signature.sign", ct);
        await ConsumeChallengeAsync(partner, credential, request, ct);
        (SignatureResult Result, IReadOnlyList<TsaResult> Stamps) signed;
        try
        {
            signed = await SignInVaultAsync(partner, credential, request, pin, ct);
        }
        catch (Exception e) when (e is not DTrustException { Kind: ErrorKind.FailedPrecondition })
        {
            // The challenge is spent; leave a trace of why nothing was signed (best effort: the store may be down too).
            try
            {
                await Refuse(partner, credential.Id, "signature.sign", "signing failed: " + e.GetType().Name);
            }
            catch (DTrustException)
            {
            }

            throw;
        }

        var (result, stamps) = signed;
        await AuditSignaturesAsync(partner, credential, request, stamps, ct);
        return result;
    }

    /// <summary>The credential of the partner's tenant, as it stands now (NOT_FOUND for another tenant's).</summary>
    private async Task<CredentialRecord> CredentialAsync(CallerRecord partner, string credentialId, CancellationToken ct) =>
        registry.Effective(await registry.GetStoredAsync(partner, credentialId, ct));

    /// <summary>The credential's holder, if the credential may sign now.</summary>
    private async Task<UserRecord> SignableAsync(CallerRecord partner, CredentialRecord credential, string action, CancellationToken ct)
    {
        if (credential.Status != CredentialStatus.Valid)
        {
            var why = $"the credential is {CredentialRegistry.StatusName(credential.Status)}";
            await Refuse(partner, credential.Id, action, why);
            throw new DTrustException(ErrorKind.FailedPrecondition, why + " and cannot sign");
        }

        var holder = await store.GetUserAsync(partner.Tenant, credential.UserId, ct);
        var problem = holder is null ? "the holder is unknown" : HolderRules.IdentificationProblem(holder, time.GetUtcNow());
        if (problem is not null)
        {
            await Refuse(partner, credential.Id, action, problem);
            throw new DTrustException(ErrorKind.FailedPrecondition, problem);
        }

        return holder!;
    }

    private async Task ConsumeChallengeAsync(CallerRecord partner, CredentialRecord credential, SignatureRequest request, CancellationToken ct)
    {
        var otpMac = string.IsNullOrEmpty(request.Otp) ? null : codes.Mac(request.ChallengeId, request.Otp);
        if (otpMac is not null)
        {
            // Before Redis is asked: at the cap a guess costs nothing and tells nothing, on any challenge still open.
            await RequireCodeGuessesLeftAsync(partner, credential, "signature.sign", ct);
        }

        var (outcome, left) = await challenges.ConsumeAsync(
            request.ChallengeId, partner.Id, credential.Id, HashRules.ListDigest(request.Hashes, request.Hash), otpMac, time.GetUtcNow());
        ServerMetrics.CountChallengeCheck(outcome);
        switch (outcome)
        {
            case ConsumeOutcome.ConsumedWithCode:
                return;

            // What the credential needs is decided now, from the store, not by what the challenge says: consent to
            // one factor withdrawn after AuthorizeSignature makes its code-less challenge worthless.
            case ConsumeOutcome.Consumed when !NeedsOtp(credential):
                return;
            case ConsumeOutcome.Consumed:
                await Refuse(partner, credential.Id, "signature.sign", "challenge without a one-time code, which the credential needs now");
                throw new DTrustException(
                    ErrorKind.PermissionDenied, "this credential needs a one-time code now and the challenge has none; authorize again");
            case ConsumeOutcome.Tampered:
                await Refuse(partner, credential.Id, "signature.sign", "challenge failed its integrity check");
                throw new DTrustException(ErrorKind.PermissionDenied, "the challenge failed its integrity check; authorize again");
            case ConsumeOutcome.WrongCode:
                await WrongCodeAsync(partner, credential, voided: false, "wrong one-time code");
                throw new DTrustException(ErrorKind.PermissionDenied, $"wrong one-time code; {left} attempt(s) left");
            case ConsumeOutcome.Exhausted:
                await WrongCodeAsync(partner, credential, voided: true, "wrong one-time code, challenge void");
                throw new DTrustException(ErrorKind.PermissionDenied, "wrong one-time code; the challenge is void, authorize again");
            case ConsumeOutcome.HashesDiffer:
                await Refuse(partner, credential.Id, "signature.sign", "hashes differ from the authorization");
                throw new DTrustException(ErrorKind.PermissionDenied, "the hashes differ from those authorized");
            default:
                await Refuse(partner, credential.Id, "signature.sign", "no such challenge");
                throw new DTrustException(ErrorKind.FailedPrecondition, "challenge not found, expired or already used");
        }
    }

    /// <summary>
    /// Counts a wrong code durably (not with the caller's token: cancelling must not skip the count) and locks the
    /// credential at the day's cap, so that only an operator's unlock, after checking with the holder, lets it sign.
    /// </summary>
    private async Task WrongCodeAsync(CallerRecord partner, CredentialRecord credential, bool voided, string why)
    {
        var today = await codeFailures.RecordWrongCodeAsync(partner.Tenant, credential.Id, voided, time.GetUtcNow(), CancellationToken.None);
        await Refuse(partner, credential.Id, "signature.sign", why, new { wrong_codes_today = today });
        if (today >= options.OtpFailuresPerDay)
        {
            await registry.LockAfterWrongCodesAsync(partner, credential.Id, today);
        }
    }

    /// <summary>
    /// Refuses once the credential has taken the day's cap of wrong codes: the per-challenge attempts alone let an
    /// attacker guess on and on with new challenges (and every new one costs an SMS).
    /// </summary>
    private async Task RequireCodeGuessesLeftAsync(CallerRecord partner, CredentialRecord credential, string action, CancellationToken ct)
    {
        if (await codeFailures.WrongCodesTodayAsync(partner.Tenant, credential.Id, time.GetUtcNow(), ct) < options.OtpFailuresPerDay)
        {
            return;
        }

        await Refuse(partner, credential.Id, action, "daily cap of wrong one-time codes reached");
        throw new DTrustException(
            ErrorKind.FailedPrecondition,
            "too many wrong one-time codes for this credential today; an operator must unlock it after checking with the holder");
    }

    private async Task<(SignatureResult Result, IReadOnlyList<TsaResult> Stamps)> SignInVaultAsync(
        CallerRecord partner, CredentialRecord credential, SignatureRequest request, byte[] pin, CancellationToken ct)
    {
        var chain = ca.Chain(credential.Level);
        var cms = request.Format != SignatureFormat.Raw;
        var scheme = HashRules.Scheme(credential.Algorithm, request.Hash, request.RsaPkcs1, p1363: request.EcdsaP1363 && !cms);
        var signer = signers.For(credential);
        var builder = cms ? signer.Cades : null;
        var profile = request.Format == SignatureFormat.Pades ? CmsProfile.Pades : CmsProfile.Cades;
        var signingTime = time.GetUtcNow();
        var prepared = builder is null ? null : request.Hashes.Select(h => builder.Prepare(request.Hash, h.Span, profile, signingTime)).ToList();
        IReadOnlyList<ReadOnlyMemory<byte>> digests = prepared is null ? request.Hashes : [.. prepared.Select(p => p.DigestToSign)];

        var values = await registry.WithPinAttemptAsync(
            partner, credential, "signature.sign", "wrong PIN",
            () => vault.Domain(PkiLevels.Name(credential.Level)).SignBatchAsync(credential.Key, pin, digests, scheme, ct), ct);

        // The HSM's answer is checked against the certificate before release: a blob that unwrapped to another key
        // (or a faulty device) must never put a signature the certificate does not vouch for into the world. Once per
        // batch here; the vault itself verifies every RSA signature of the batch (a CRT fault on any one leaks the key).
        var p1363 = request.EcdsaP1363 && !cms;
        if (!SelfCheck(signer.PublicKey, digests[0].Span, values[0], request.Hash, request.RsaPkcs1, p1363))
        {
            throw new DTrustException(ErrorKind.Internal, "the HSM's signature did not verify against the credential's certificate");
        }

        var stamps = request.Timestamp ? await TimestampAllAsync(values, request.Hash, ct) : [];
        IReadOnlyList<byte[]> tokens = [.. stamps.Select(s => s.Token.ToArray())];
        if (builder is null || prepared is null)
        {
            return (new SignatureResult(values, [credential.Certificate, .. chain], tokens, credential.Level), stamps);
        }

        var cmsScheme = credential.Algorithm is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384 ? CmsSignatureScheme.Ecdsa
            : request.RsaPkcs1 ? CmsSignatureScheme.RsaPkcs1
            : CmsSignatureScheme.RsaPss;
        var signatures = new byte[values.Count][];
        for (var i = 0; i < values.Count; i++)
        {
            signatures[i] = builder.Complete(prepared[i], cmsScheme, values[i], request.Timestamp ? tokens[i] : default);
        }

        return (new SignatureResult(signatures, [credential.Certificate, .. chain], [], credential.Level), stamps);
    }

    /// <summary>One token per signature value, over the hash of the value (signature-time-stamp).</summary>
    private async Task<TsaResult[]> TimestampAllAsync(IReadOnlyList<byte[]> values, HashAlgorithmName hash, CancellationToken ct)
    {
        var stamps = new TsaResult[values.Count];
        for (var i = 0; i < values.Count; i++)
        {
            var result = await tsa.TimestampAsync(hash, CadesBuilder.SignatureTimeStampImprint(hash, values[i]), includeCertificate: true, ct);
            ServerMetrics.CountTsaToken(TsaSource.Signature, result);
            stamps[i] = result.IsGranted
                ? result
                : throw new DTrustException(ErrorKind.Unavailable, "the time-stamping authority refused: " + result.StatusText);
        }

        return stamps;
    }

    /// <summary>One durable entry per signature (credential, hash, algorithm, TSA serial), each billed once.</summary>
    private Task AuditSignaturesAsync(
        CallerRecord partner, CredentialRecord credential, SignatureRequest request, IReadOnlyList<TsaResult> stamps, CancellationToken ct)
    {
        var appends = new Task[request.Hashes.Count];
        for (var i = 0; i < appends.Length; i++)
        {
            appends[i] = audit.RecordAsync(
                partner.Id, partner.Tenant, credential.Id, "signature.created",
                details: new
                {
                    challenge = request.ChallengeId,
                    hash = Convert.ToHexString(request.Hashes[i].Span),
                    algorithm = request.Hash.Name,
                    format = request.Format.ToString(),
                    tsa_serial = i < stamps.Count ? stamps[i].SerialNumber : null,
                },
                usage: (credential.Level, 1),
                ct: CancellationToken.None);
        }

        // Not cancellable: once the HSM has signed, the entries must be written before anything is returned.
        return Task.WhenAll(appends);
    }

    private static bool SelfCheck(
        AsymmetricAlgorithm publicKey, ReadOnlySpan<byte> digest, byte[] signature, HashAlgorithmName hash, bool pkcs1, bool p1363) =>
        publicKey is ECDsa ec
            ? ec.VerifyHash(digest, signature, p1363 ? DSASignatureFormat.IeeeP1363FixedFieldConcatenation : DSASignatureFormat.Rfc3279DerSequence)
            : ((RSA)publicKey).VerifyHash(digest, signature, hash, pkcs1 ? RSASignaturePadding.Pkcs1 : RSASignaturePadding.Pss);

    /// <summary>
    /// Audits a refusal. Never with the caller's token: a client that cancels the moment it sees the refusal coming
    /// must not be able to keep it out of the evidence (and a wrong code or PIN out of the count).
    /// </summary>
    private Task<AuditEntry> Refuse(CallerRecord partner, string credentialId, string action, string why, object? details = null) =>
        audit.RecordAsync(partner.Id, partner.Tenant, credentialId, action, "refused: " + why, details, ct: CancellationToken.None);
}
