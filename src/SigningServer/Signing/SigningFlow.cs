using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Cms;
using DTrust.KeyVault;
using DTrust.SigningServer.Credentials;
using DTrust.SigningServer.Errors;
using DTrust.SigningServer.Factors;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Policy;
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
    bool EcdsaP1363)
{
    /// <summary>Holder approval: the approved authorization (then <see cref="Sad"/> instead of PIN and code).</summary>
    public string? AuthorizationId { get; init; }

    /// <summary>Holder approval: the signature activation data the partner received for the authorization.</summary>
    public string? Sad { get; init; }

    /// <summary>The family the caller's algorithm names (CSC's signAlgo): true ECDSA, false RSA, null unnamed.</summary>
    public bool? Ecdsa { get; init; }
}

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
/// The signing flow, in the order the service reads: validate → policy (credential status, holder, level → factor) →
/// factor (issued with the challenge, checked as the challenge is consumed in Redis) → vault (one unwrap per call) →
/// time-stamps → audit. The rules are <see cref="SigningPolicy"/>'s and the second factor is an
/// <see cref="ISecondFactor"/>; every credential change goes through the <see cref="CredentialRegistry"/>. Any
/// dependency that fails stops it before a signature leaves the server (fail closed); a signature is returned only
/// once its audit entry is durable.
/// </summary>
public sealed partial class SigningFlow(
    CredentialRegistry registry,
    ChallengeStore challenges,
    ApprovalStore approvals,
    IEnumerable<ISecondFactor> factors,
    HsmVault vault,
    TimeStampAuthority tsa,
    ICertificateAuthority ca,
    SignerCache signers,
    AuditTrail audit,
    HolderNotifications notifications,
    OneTimeCodes codes,
    SigningOptions options,
    ServerOptions server,
    TimeProvider time)
{
    private readonly Dictionary<string, ISecondFactor> _factors = factors.ToDictionary(f => f.Name, StringComparer.Ordinal);
    private readonly CredentialRegistry _registry = registry;
    private readonly ChallengeStore _challenges = challenges;
    private readonly ApprovalStore _approvals = approvals;
    private readonly HsmVault _vault = vault;
    private readonly AuditTrail _audit = audit;
    private readonly HolderNotifications _notifications = notifications;
    private readonly OneTimeCodes _codes = codes;
    private readonly SigningOptions _options = options;
    private readonly ServerOptions _server = server;
    private readonly TimeProvider _time = time;

    public async Task<Authorization> AuthorizeAsync(
        CallerRecord partner, string credentialId, IReadOnlyList<ReadOnlyMemory<byte>> hashes, HashAlgorithmName hash,
        string? description, CancellationToken ct)
    {
        RequireHashes(hashes, hash);
        if (SigningPolicy.DescriptionProblem(description) is { } problem)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, problem);
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
        RequireHashes(request.Hashes, request.Hash);
        if (!string.IsNullOrEmpty(request.AuthorizationId))
        {
            return await SignApprovedAsync(partner, request, ct);
        }

        if (string.IsNullOrEmpty(request.ChallengeId))
        {
            // Without challenge, PIN and code only a seal signs (its registered caller is its one factor).
            if (string.IsNullOrEmpty(request.Pin) && string.IsNullOrEmpty(request.Otp) && !string.IsNullOrEmpty(request.CredentialId))
            {
                var credential = await CredentialAsync(partner, request.CredentialId, ct);
                if (credential.Level.IsSeal())
                {
                    return await SealAsync(partner, credential, request, ct);
                }
            }

            throw new DTrustException(ErrorKind.InvalidArgument, "challenge_id is required (or authorization_id and sad; only a seal signs without)");
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

    /// <summary>Before any challenge or grant is spent: an algorithm of the other family is a mistake, not an attempt.</summary>
    private static void RequireKeyFamily(CredentialRecord credential, SignatureRequest request)
    {
        if (SigningPolicy.KeyFamilyProblem(credential.Algorithm, request.Ecdsa) is { } problem)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, problem);
        }
    }

    /// <summary>Whether the credential needs a second factor besides the PIN (<see cref="SigningPolicy.RequiredFactor"/>).</summary>
    public static bool NeedsOtp(CredentialRecord credential) => SigningPolicy.RequiredFactor(credential) is not null;

    private void RequireHashes(IReadOnlyList<ReadOnlyMemory<byte>> hashes, HashAlgorithmName hash)
    {
        if (SigningPolicy.HashListProblem(hashes, hash, _options.MaxHashesPerChallenge) is { } problem)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, problem);
        }
    }

    private async Task<Authorization> AuthorizeAsync(
        CallerRecord partner, CredentialRecord credential, IReadOnlyList<ReadOnlyMemory<byte>> hashes, HashAlgorithmName hash,
        string? description, CancellationToken ct)
    {
        const string Action = "signature.authorize";
        var holder = await SignableAsync(partner, credential, Action, ct);
        if (!SigningPolicy.AllowedModes(credential.Level, _options.ExplicitQualified).Contains(SigningMode.Explicit))
        {
            var why = $"{credential.Level.ToString().ToUpperInvariant()} credentials do not sign with factors relayed by the partner; " +
                "use HOLDER_APPROVAL";
            await Refuse(partner, credential.Id, Action, why);
            throw new DTrustException(ErrorKind.FailedPrecondition, why);
        }

        var factor = RequiredFactor(credential);
        if (factor is not null)
        {
            await RequireGuessesLeftAsync(partner, credential, factor, Action, ct);
        }

        var id = Callers.ApiKeys.NewId("chal");
        var lifetime = TimeSpan.FromSeconds(_options.ChallengeSeconds);
        var listDigest = SigningPolicy.ListDigest(hashes, hash);
        var expiresAt = _time.GetUtcNow() + lifetime;
        IssuedFactor? issued = null;
        if (factor is not null)
        {
            try
            {
                issued = await factor.IssueAsync(
                    new FactorRequest(partner, credential, holder, id, listDigest, hashes.Count, description, lifetime), ct);
            }
            catch (FactorRefusedException e)
            {
                await Refuse(partner, credential.Id, Action, e.Reason);
                throw new DTrustException(e.Kind, e.Message);
            }
        }

        var challenge = new Challenge(id, partner.Id, credential.Id, listDigest, hashes.Count, issued?.Value, expiresAt, factor?.Name);
        if (!await _challenges.CreateAsync(challenge, _options.OtpAttempts, _options.ChallengesPerMinute))
        {
            await Refuse(partner, credential.Id, Action, "too many challenges");
            throw new DTrustException(ErrorKind.ResourceExhausted, "too many authorizations for this credential; wait a minute");
        }

        if (issued is not null)
        {
            try
            {
                await issued.DeliverAsync(ct);
            }
            catch
            {
                // A challenge whose factor never reached the holder only blocks the rate limit.
                await _challenges.DeleteAsync(credential.Id, id);
                throw;
            }
        }

        await _audit.RecordAsync(
            partner.Id, partner.Tenant, credential.Id, "signature.authorized",
            details: new
            {
                challenge = id,
                hashes = hashes.Count,
                list = listDigest,
                otp = factor is not null,
                description,
                message = issued?.AuditMessage,
            },
            ct: ct);
        return new Authorization(id, factor is not null, expiresAt);
    }

    private async Task<SignatureResult> SignAsync(
        CallerRecord partner, CredentialRecord credential, SignatureRequest request, byte[] pin, CancellationToken ct)
    {
        RequireKeyFamily(credential, request);
        await SignableAsync(partner, credential, "signature.sign", ct);
        await ConsumeChallengeAsync(partner, credential, request, ct);
        (SignatureResult Result, IReadOnlyList<TsaResult> Stamps) signed;
        try
        {
            signed = await SignInVaultAsync(credential, request, (digests, scheme) => _registry.WithPinAttemptAsync(
                partner, credential, "signature.sign", "wrong PIN",
                () => _vault.Domain(SigningPolicy.KeyDomain(credential.Level)).SignBatchAsync(credential.Key, pin, digests, scheme, ct), ct), ct);
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
        await AuditSignaturesAsync(partner, credential, request, stamps, approval: null);
        return result;
    }

    /// <summary>The credential of the partner's tenant, as it stands now (NOT_FOUND for another tenant's).</summary>
    private async Task<CredentialRecord> CredentialAsync(CallerRecord partner, string credentialId, CancellationToken ct) =>
        SigningPolicy.Effective(await _registry.GetStoredAsync(partner, credentialId, ct), _time.GetUtcNow());

    /// <summary>The second factor the policy requires of the credential now, or null for the PIN alone.</summary>
    private ISecondFactor? RequiredFactor(CredentialRecord credential) =>
        SigningPolicy.RequiredFactor(credential) is { } name ? Factor(name) : null;

    private ISecondFactor Factor(string name) =>
        _factors.TryGetValue(name, out var factor)
            ? factor
            : throw new DTrustException(ErrorKind.Internal, $"the second factor '{name}' is not configured");

    /// <summary>
    /// A seal signs: the caller must be registered on it (<see cref="SigningPolicy.MaySeal"/>) and the seal VALID;
    /// then one C_Sign per hash with the seal's token key, the time-stamps, and the audit entries, billed at the
    /// seal's level, before anything is returned. No challenge, PIN, code or Redis: nothing else activates a seal.
    /// </summary>
    private async Task<SignatureResult> SealAsync(CallerRecord partner, CredentialRecord seal, SignatureRequest request, CancellationToken ct)
    {
        const string Action = "seal.sign";
        try
        {
            RequireKeyFamily(seal, request);
            if (!SigningPolicy.MaySeal(seal, partner))
            {
                // An operator sees the seal (to administer it) but is no system of the organisation.
                await Refuse(partner, seal.Id, Action, "caller not registered on the seal");
                throw new DTrustException(ErrorKind.PermissionDenied, "only the callers registered on the seal may sign with it");
            }

            if (SigningPolicy.StatusProblem(seal) is { } why)
            {
                await Refuse(partner, seal.Id, Action, why);
                throw new DTrustException(ErrorKind.FailedPrecondition, why + " and cannot sign");
            }

            // The caller is the seal's only factor: read it from the store now, not from the authentication cache,
            // so that a revoked caller stops at once on every node.
            if (await _registry.FindCallerAsync(partner.Id, ct) is not { RevokedAt: null })
            {
                await Refuse(partner, seal.Id, Action, "caller revoked");
                throw new DTrustException(ErrorKind.PermissionDenied, "this caller is revoked");
            }

            // The key reference names this seal's own token object, never another key of the token.
            if (!seal.Key.IsTokenObject || seal.Key.GetTokenObjectLabel() != SealRegistry.KeyLabel(seal.Id))
            {
                await Refuse(partner, seal.Id, Action, "key reference is not the seal's own");
                throw new DTrustException(ErrorKind.Internal, "the seal's key reference does not name its own key");
            }

            (SignatureResult Result, IReadOnlyList<TsaResult> Stamps) signed;
            try
            {
                signed = await SignInVaultAsync(seal, request, (digests, scheme) =>
                    _vault.Domain(SigningPolicy.KeyDomain(seal.Level)).SignWithSealKeyAsync(seal.Key, digests, scheme, ct), ct);
            }
            catch (Exception e) when (e is not DTrustException { Kind: ErrorKind.FailedPrecondition })
            {
                try
                {
                    await Refuse(partner, seal.Id, Action, "signing failed: " + e.GetType().Name);
                }
                catch (DTrustException)
                {
                }

                throw;
            }

            await AuditSealBatchAsync(partner, seal, request, signed.Stamps);
            ServerMetrics.CountSignatures(seal.Level, request.Format, Outcome.Done, request.Hashes.Count);
            return signed.Result;
        }
        catch (Exception e)
        {
            ServerMetrics.CountSignatures(seal.Level, request.Format, ServerMetrics.OutcomeOf(e), request.Hashes.Count);
            throw;
        }
    }

    /// <summary>The credential's holder, if the credential may sign now.</summary>
    private async Task<UserRecord> SignableAsync(CallerRecord partner, CredentialRecord credential, string action, CancellationToken ct)
    {
        if (credential.Level.IsSeal())
        {
            // No person's path (challenge, PIN, code, holder page) ever reaches a seal's key.
            const string Why = "a seal signs only by its registered callers, with SignHash and no challenge, PIN or code";
            await Refuse(partner, credential.Id, action, Why);
            throw new DTrustException(ErrorKind.FailedPrecondition, Why);
        }

        if (SigningPolicy.StatusProblem(credential) is { } why)
        {
            await Refuse(partner, credential.Id, action, why);
            throw new DTrustException(ErrorKind.FailedPrecondition, why + " and cannot sign");
        }

        var holder = await _registry.FindHolderAsync(partner, credential.UserId, ct);
        if (SigningPolicy.IdentificationProblem(holder, _time.GetUtcNow()) is { } problem)
        {
            await Refuse(partner, credential.Id, action, problem);
            throw new DTrustException(ErrorKind.FailedPrecondition, problem);
        }

        return holder!;
    }

    private Task<object?> ConsumeChallengeAsync(CallerRecord partner, CredentialRecord credential, SignatureRequest request, CancellationToken ct)
    {
        // The factor that reads the response is the one the credential needs now; a response given where none is
        // needed is still read (and counted if wrong) by the default one.
        var required = RequiredFactor(credential);
        var factor = required ?? Factor(SigningPolicy.DefaultFactor);
        var listDigest = SigningPolicy.ListDigest(request.Hashes, request.Hash);
        return ConsumeFactorAsync(partner, credential, request.ChallengeId, listDigest, request.Otp, factor, required is not null, "signature.sign", ct);
    }

    /// <summary>
    /// Checks the holder's response to a challenge with <paramref name="factor"/> and consumes the challenge, or
    /// refuses (audited, a wrong response counted towards the day's cap and the lock). Returns the factor's
    /// evidence of the response (a passkey's assertion), null for a code or no response.
    /// </summary>
    private async Task<object?> ConsumeFactorAsync(
        CallerRecord partner, CredentialRecord credential, string challengeId, string listDigest, string? answer, ISecondFactor factor,
        bool required, string action, CancellationToken ct)
    {
        FactorProof? proof = null;
        if (!string.IsNullOrEmpty(answer))
        {
            proof = await factor.ProofAsync(new FactorResponse(partner, credential, challengeId, listDigest, answer), ct);

            // Before Redis is asked: at the cap a guess costs nothing and tells nothing, on any challenge still open.
            await RequireGuessesLeftAsync(partner, credential, factor, action, ct);
        }

        var (outcome, left) = await _challenges.ConsumeAsync(
            challengeId, partner.Id, credential.Id, listDigest, proof?.Proof, _time.GetUtcNow(), factor.Name);
        ServerMetrics.CountChallengeCheck(outcome);
        var response = factor.ResponseName;
        switch (outcome)
        {
            case ConsumeOutcome.ConsumedWithCode:
                return proof?.Evidence;

            // What the credential needs is decided now, from the store, not by what the challenge says: consent to
            // one factor withdrawn after AuthorizeSignature makes its factor-less challenge worthless.
            case ConsumeOutcome.Consumed when !required:
                return null;
            case ConsumeOutcome.Consumed:
                await Refuse(partner, credential.Id, action, $"challenge without a {response}, which the credential needs now");
                throw new DTrustException(
                    ErrorKind.PermissionDenied, $"this credential needs a {response} now and the challenge has none; authorize again");
            case ConsumeOutcome.Tampered:
                await Refuse(partner, credential.Id, action, "challenge failed its integrity check");
                throw new DTrustException(ErrorKind.PermissionDenied, "the challenge failed its integrity check; authorize again");
            case ConsumeOutcome.WrongCode:
                await WrongResponseAsync(partner, credential, voided: false, $"wrong {response}", action);
                throw new DTrustException(ErrorKind.PermissionDenied, $"wrong {response}; {left} attempt(s) left");
            case ConsumeOutcome.Exhausted:
                await WrongResponseAsync(partner, credential, voided: true, $"wrong {response}, challenge void", action);
                throw new DTrustException(ErrorKind.PermissionDenied, $"wrong {response}; the challenge is void, authorize again");
            case ConsumeOutcome.HashesDiffer:
                await Refuse(partner, credential.Id, action, "hashes differ from the authorization");
                throw new DTrustException(ErrorKind.PermissionDenied, "the hashes differ from those authorized");
            default:
                await Refuse(partner, credential.Id, action, "no such challenge");
                throw new DTrustException(ErrorKind.FailedPrecondition, "challenge not found, expired or already used");
        }
    }

    /// <summary>
    /// Counts a wrong response durably (not with the caller's token: cancelling must not skip the count) and locks
    /// the credential at the day's cap, so that only an operator's unlock, after checking with the holder, lets it sign.
    /// </summary>
    private async Task WrongResponseAsync(CallerRecord partner, CredentialRecord credential, bool voided, string why, string action)
    {
        var today = await _registry.RecordWrongCodeAsync(partner, credential.Id, voided);
        await Refuse(partner, credential.Id, action, why, new { wrong_codes_today = today });
        if (SigningPolicy.LocksAfterWrongResponses(today, _options))
        {
            await _registry.LockAfterWrongCodesAsync(partner, credential.Id, today);
        }
    }

    /// <summary>
    /// Refuses once the credential has taken the day's cap of wrong responses: the per-challenge attempts alone let
    /// an attacker guess on and on with new challenges (and every new one costs an SMS).
    /// </summary>
    private async Task RequireGuessesLeftAsync(
        CallerRecord partner, CredentialRecord credential, ISecondFactor factor, string action, CancellationToken ct)
    {
        if (SigningPolicy.FactorGuessesLeft(await _registry.WrongCodesTodayAsync(partner, credential.Id, ct), _options))
        {
            return;
        }

        await Refuse(partner, credential.Id, action, $"daily cap of wrong {factor.ResponseName}s reached");
        throw new DTrustException(
            ErrorKind.FailedPrecondition,
            $"too many wrong {factor.ResponseName}s for this credential today; an operator must unlock it after checking with the holder");
    }

    /// <summary>
    /// Prepares what the key signs (the CMS signed attributes for CAdES/PAdES), has <paramref name="sign"/> sign it in
    /// the vault (with the PIN, or with a holder approval's SAD), checks the answer and completes the signatures.
    /// </summary>
    private async Task<(SignatureResult Result, IReadOnlyList<TsaResult> Stamps)> SignInVaultAsync(
        CredentialRecord credential, SignatureRequest request,
        Func<IReadOnlyList<ReadOnlyMemory<byte>>, SignatureScheme, Task<IReadOnlyList<byte[]>>> sign, CancellationToken ct)
    {
        var chain = ca.Chain(credential.Level);
        var cms = request.Format != SignatureFormat.Raw;
        var p1363 = SigningPolicy.UseP1363(request.EcdsaP1363, cms);
        var scheme = SigningPolicy.Scheme(credential.Algorithm, request.Hash, request.RsaPkcs1, p1363);
        var signer = signers.For(credential);
        var builder = cms ? signer.Cades : null;
        var profile = request.Format == SignatureFormat.Pades ? CmsAttributeProfile.Pades : CmsAttributeProfile.Cades;
        var signingTime = _time.GetUtcNow();
        var prepared = builder is null ? null : request.Hashes.Select(h => builder.Prepare(request.Hash, h.Span, profile, signingTime)).ToList();
        IReadOnlyList<ReadOnlyMemory<byte>> digests = prepared is null ? request.Hashes : [.. prepared.Select(p => p.DigestToSign)];

        var values = await sign(digests, scheme);

        // The HSM's answer is checked against the certificate before release: a blob that unwrapped to another key
        // (or a faulty device) must never put a signature the certificate does not vouch for into the world. Once per
        // batch here; the vault itself verifies every RSA signature of the batch (a CRT fault on any one leaks the key).
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

        var cmsScheme = SigningPolicy.CmsScheme(credential.Algorithm, request.RsaPkcs1);
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
        CallerRecord partner, CredentialRecord credential, SignatureRequest request, IReadOnlyList<TsaResult> stamps, object? approval)
    {
        var appends = new Task[request.Hashes.Count];
        for (var i = 0; i < appends.Length; i++)
        {
            appends[i] = _audit.RecordAsync(
                partner.Id, partner.Tenant, credential.Id, "signature.created",
                details: new
                {
                    challenge = string.IsNullOrEmpty(request.AuthorizationId) ? request.ChallengeId : null,
                    authorization = request.AuthorizationId,
                    hash = Convert.ToHexString(request.Hashes[i].Span),
                    algorithm = request.Hash.Name,
                    format = request.Format.ToString(),
                    tsa_serial = i < stamps.Count ? stamps[i].SerialNumber : null,
                    approval,

                    // Hashed with the entry, so the billed usage can be recounted from the chain (dtrust audit verify).
                    level = credential.Level.ToString(),
                },
                usage: (credential.Level, 1),
                ct: CancellationToken.None);
        }

        // Not cancellable: once the HSM has signed, the entries must be written before anything is returned.
        return Task.WhenAll(appends);
    }

    /// <summary>
    /// One durable entry for a seal's batch: every hash of it in order, the count it bills, its level (so the chain
    /// recounts the usage), the TSA serials. One entry rather than one per hash: a seal has no approval to attach per
    /// document, and at the HSM's speed a hundred entries per call would cost more than the signatures.
    /// </summary>
    private Task<AuditEntry> AuditSealBatchAsync(CallerRecord partner, CredentialRecord seal, SignatureRequest request, IReadOnlyList<TsaResult> stamps) =>
        _audit.RecordAsync(
            partner.Id, partner.Tenant, seal.Id, "signature.created",
            details: new
            {
                hashes = request.Hashes.Select(h => Convert.ToHexString(h.Span)).ToArray(),
                algorithm = request.Hash.Name,
                format = request.Format.ToString(),
                tsa_serials = stamps.Count > 0 ? stamps.Select(s => s.SerialNumber).ToArray() : null,
                level = seal.Level.ToString(),
                mode = "seal",
                signatures = request.Hashes.Count,
            },
            usage: (seal.Level, request.Hashes.Count),

            // Not cancellable: once the HSM has signed, the entry must be written before anything is returned.
            ct: CancellationToken.None);

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
        _audit.RecordAsync(partner.Id, partner.Tenant, credentialId, action, "refused: " + why, details, ct: CancellationToken.None);
}
