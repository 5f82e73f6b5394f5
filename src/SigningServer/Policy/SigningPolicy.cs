using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DTrust.Cms;
using DTrust.KeyVault;
using DTrust.Pki;
using DTrust.SigningServer.Factors;
using DTrust.SigningServer.Signing;
using DTrust.Store;

namespace DTrust.SigningServer.Policy;

/// <summary>How the factors reach the server: relayed by the partner, or given by the holder on our own origin.</summary>
public enum SigningMode
{
    /// <summary>The partner relays the PIN and the second factor (AuthorizeSignature, then SignHash).</summary>
    Explicit,

    /// <summary>The holder approves on our origin and the partner gets only the signature activation data.</summary>
    HolderApproval,

    /// <summary>
    /// A seal: the organisation's own system, a caller registered on the seal, signs directly (SignHash without
    /// challenge or PIN). One factor by policy: the caller's authentication, bound to the seal.
    /// </summary>
    Seal,
}

/// <summary>
/// Every rule that decides whether a credential may sign, with what, and how: status and expiry, the holder's
/// identification, level → modes, factors and key domain, the PIN and code limits, the hash list and the signature
/// scheme. No I/O: the flow and the registry read the store and Redis and ask here; the time and the options come in as
/// parameters, so each rule can be tested alone.
/// </summary>
public static class SigningPolicy
{
    /// <summary>Wrong PINs (transport or activation) after which a credential is LOCKED.</summary>
    public const int PinAttempts = 5;

    /// <summary>Longest description a partner may put into the holder's message and the audit.</summary>
    public const int MaxDescriptionLength = 200;

    // ---- Status and expiry ----

    /// <summary>The status a caller sees and the policy applies: a credential past its certificate's end is EXPIRED.</summary>
    public static CredentialRecord Effective(CredentialRecord credential, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(credential);
        return credential.NotAfter <= now
            && credential.Status is CredentialStatus.Valid or CredentialStatus.Locked or CredentialStatus.NotActivated
            ? credential with { Status = CredentialStatus.Expired }
            : credential;
    }

    /// <summary>Why the (effective) credential cannot sign now, or null when it is VALID.</summary>
    public static string? StatusProblem(CredentialRecord effective)
    {
        ArgumentNullException.ThrowIfNull(effective);
        return effective.Status == CredentialStatus.Valid ? null : $"the credential is {StatusName(effective.Status)}";
    }

    /// <summary>The status as the API spells it (NOT_ACTIVATED, VALID, …).</summary>
    public static string StatusName(CredentialStatus status) => status switch
    {
        CredentialStatus.NotActivated => "NOT_ACTIVATED",
        CredentialStatus.RevocationInProgress => "REVOCATION_IN_PROGRESS",
        _ => status.ToString().ToUpperInvariant(),
    };

    // ---- Identification ----

    /// <summary>Why the holder may not enrol or sign now, or null when the identification is current and valid.</summary>
    public static string? IdentificationProblem(UserRecord? holder, DateTimeOffset now) =>
        holder is null ? "the holder is unknown"
        : holder.Identification is null ? "the holder has no identification evidence"
        : holder.IdentificationStale ? "the holder's identity data changed after identification; record new identification evidence"
        : holder.Identification.ValidUntil <= now ? "the holder's identification has expired"
        : null;

    // ---- Levels: modes, factors, key domain, consent ----

    /// <summary>
    /// The modes a level may sign in. QUALIFIED signs only through holder approval (sole control, SCAL2: the factors
    /// are collected on our origin, never by the partner), unless <paramref name="explicitQualified"/> is configured
    /// (Signing:ExplicitQualified, documented as not SCAL2). SIMPLE and ADVANCED may use either.
    /// </summary>
    public static IReadOnlyList<SigningMode> AllowedModes(CredentialLevel level, bool explicitQualified = false) => level switch
    {
        CredentialLevel.QualifiedSeal or CredentialLevel.AdvancedSeal => [SigningMode.Seal],
        CredentialLevel.Simple or CredentialLevel.Advanced => [SigningMode.Explicit, SigningMode.HolderApproval],
        CredentialLevel.Qualified when explicitQualified => [SigningMode.HolderApproval, SigningMode.Explicit],
        CredentialLevel.Qualified => [SigningMode.HolderApproval],
        _ => [],
    };

    /// <summary>
    /// Whether a one-time code sent before the hashes are named (CSC's sendOTP) may authorize: never for QUALIFIED,
    /// even where an operator allows explicit mode, since the holder's SMS then names no documents at all; and never
    /// for a seal, which has no person to send a code to.
    /// </summary>
    public static bool UnboundCodeAllowed(CredentialLevel level) => level is CredentialLevel.Simple or CredentialLevel.Advanced;

    /// <summary>
    /// Sole control (SCAL2) as CSC reports it: the level signs first of all by the holder's approval on our origin.
    /// Explicit mode, where the partner relays the factors, is SCAL1.
    /// </summary>
    public static bool SoleControl(CredentialLevel level, bool explicitQualified) =>
        AllowedModes(level, explicitQualified) is [SigningMode.HolderApproval, ..];

    /// <summary>
    /// The second factors the holder may approve with on our page when the credential needs one: the SMS code or a
    /// paired passkey (either is a second factor beside the PIN); none when the PIN alone suffices.
    /// </summary>
    public static IReadOnlyList<string> PageFactors(CredentialRecord credential) =>
        RequiredFactor(credential) is null ? [] : [Factors.PasskeyFactor.FactorName, SmsCodeFactor.FactorName];

    /// <summary>
    /// The second factor the credential needs besides the PIN, by name (<see cref="ISecondFactor.Name"/>), or null
    /// for the PIN alone: QUALIFIED always; ADVANCED unless the holder consented to one factor (and the consent is
    /// recorded); SIMPLE never. Decided from the credential as stored now, never from what a challenge says.
    /// </summary>
    public static string? RequiredFactor(CredentialRecord credential)
    {
        ArgumentNullException.ThrowIfNull(credential);
        return credential.Level switch
        {
            // A seal has no person to send a code to: its one factor is the registered caller (MaySeal).
            CredentialLevel.QualifiedSeal or CredentialLevel.AdvancedSeal => null,
            CredentialLevel.Qualified => SmsCodeFactor.FactorName,
            CredentialLevel.Advanced => credential.OneFactorConsentAt is null ? SmsCodeFactor.FactorName : null,
            _ => null,
        };
    }

    /// <summary>The factor that reads a response presented where none is required (it is still checked and counted).</summary>
    public static string DefaultFactor => SmsCodeFactor.FactorName;

    /// <summary>Consent to sign with the PIN alone exists only for ADVANCED credentials.</summary>
    public static bool MayConsentToOneFactor(CredentialLevel level) => level == CredentialLevel.Advanced;

    /// <summary>
    /// The key domain (token) of a level; there is one per level, and a credential's key lives only in its own: seal
    /// keys in <c>seal-qualified</c> and <c>seal-advanced</c>, apart from every person's key.
    /// </summary>
    public static string KeyDomain(CredentialLevel level) => PkiLevels.Name(level);

    // ---- Seals ----

    /// <summary>
    /// Whether <paramref name="caller"/> may see the credential at all: a person's credential every caller of its
    /// tenant (as before), a seal only the tenant's operators and the callers registered on it. To any other caller
    /// a seal is NOT_FOUND, exactly like a missing one, so one partner cannot even learn of another's seal.
    /// </summary>
    public static bool Visible(CredentialRecord credential, CallerRecord caller)
    {
        ArgumentNullException.ThrowIfNull(credential);
        ArgumentNullException.ThrowIfNull(caller);
        return credential.Tenant == caller.Tenant
            && (!credential.Level.IsSeal() || caller.Role == CallerRole.Operator || credential.SealCallers.Contains(caller.Id, StringComparer.Ordinal));
    }

    /// <summary>
    /// The credential as <paramref name="caller"/> is shown it: a seal's bound callers only to operators (a system
    /// bound to a seal need not learn which others are).
    /// </summary>
    public static CredentialRecord AsSeenBy(CredentialRecord credential, CallerRecord caller)
    {
        ArgumentNullException.ThrowIfNull(credential);
        ArgumentNullException.ThrowIfNull(caller);
        return caller.Role == CallerRole.Operator || credential.SealCallers.Count == 0 ? credential : credential with { SealCallers = [] };
    }

    /// <summary>
    /// Whether <paramref name="caller"/> may sign with the seal: only a caller registered on it (an operator, who
    /// administers it, may not), and only while that caller is not revoked.
    /// </summary>
    public static bool MaySeal(CredentialRecord seal, CallerRecord caller)
    {
        ArgumentNullException.ThrowIfNull(seal);
        ArgumentNullException.ThrowIfNull(caller);
        return seal.Level.IsSeal() && seal.Tenant == caller.Tenant && caller.RevokedAt is null
            && caller.Role == CallerRole.Partner && seal.SealCallers.Contains(caller.Id, StringComparer.Ordinal);
    }

    /// <summary>Most callers one seal may be bound to (a few systems of the organisation, not everybody).</summary>
    public const int MaxSealCallers = 16;

    /// <summary>Why these callers may not be bound to a seal of <paramref name="tenant"/>, or null.</summary>
    public static string? SealCallersProblem(IReadOnlyList<CallerRecord?> callers, IReadOnlyList<string> ids, string tenant)
    {
        ArgumentNullException.ThrowIfNull(callers);
        ArgumentNullException.ThrowIfNull(ids);
        if (ids.Count is 0 or > MaxSealCallers)
        {
            return $"name 1 to {MaxSealCallers} callers that may use the seal";
        }

        if (ids.Distinct(StringComparer.Ordinal).Count() != ids.Count)
        {
            return "a caller is named twice";
        }

        for (var i = 0; i < ids.Count; i++)
        {
            var caller = callers[i];
            if (caller is null || caller.Tenant != tenant)
            {
                return $"caller '{ids[i]}' not found";
            }

            if (caller.RevokedAt is not null)
            {
                return $"caller '{ids[i]}' is revoked";
            }

            if (caller.Role != CallerRole.Partner)
            {
                return $"caller '{ids[i]}' is an operator; a seal is used by the organisation's systems (partner role), not by operators";
            }
        }

        return null;
    }

    /// <summary>Why the organisation may not hold a new seal now, or null: it must exist with its representative's evidence.</summary>
    public static string? OrganisationProblem(OrganisationRecord? organisation) =>
        organisation is null ? "the organisation is unknown"
        : string.IsNullOrWhiteSpace(organisation.Representative) || string.IsNullOrWhiteSpace(organisation.RepresentativeEvidence)
            ? "the organisation has no authorised representative with evidence on record"
        : null;

    // ---- PIN and code limits ----

    /// <summary>Whether a credential with <paramref name="wrongToday"/> wrong factor responses today may try another.</summary>
    public static bool FactorGuessesLeft(int wrongToday, SigningOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return wrongToday < options.OtpFailuresPerDay;
    }

    /// <summary>The wrong response that reaches the day's cap locks the credential until an operator unlocks it.</summary>
    public static bool LocksAfterWrongResponses(int wrongToday, SigningOptions options) => !FactorGuessesLeft(wrongToday, options);

    /// <summary>Whether an operator may unlock the credential once more (each unlock is five more PIN guesses).</summary>
    public static bool UnlocksLeft(CredentialRecord credential, SigningOptions options)
    {
        ArgumentNullException.ThrowIfNull(credential);
        ArgumentNullException.ThrowIfNull(options);
        return credential.Unlocks < options.UnlocksPerCredential;
    }

    // ---- OAuth 2.0 (CSC oauth2code) ----

    /// <summary>
    /// Why a PKCE challenge (RFC 7636) is not acceptable, or null: S256 only (<c>plain</c> would hand the verifier
    /// to whoever sees the authorization request), 43 base64url characters, which is a SHA-256 digest.
    /// </summary>
    public static string? CodeChallengeProblem(string? challenge, string? method) =>
        string.IsNullOrEmpty(challenge) ? "code_challenge is required (PKCE, S256)"
        : !string.Equals(method, "S256", StringComparison.Ordinal) ? "code_challenge_method must be S256"
        : challenge.Length != 43 || !challenge.All(IsUnreserved) ? "code_challenge is not a base64url SHA-256 digest"
        : null;

    /// <summary>Whether BASE64URL(SHA-256(verifier)) is the challenge, for a verifier of 43–128 unreserved characters.</summary>
    public static bool CodeVerifierMatches(string? verifier, string challenge)
    {
        ArgumentNullException.ThrowIfNull(challenge);
        if (verifier is not { Length: >= 43 and <= 128 } || !verifier.All(IsUnreserved))
        {
            return false;
        }

        var digest = Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(verifier)))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(
            System.Text.Encoding.ASCII.GetBytes(digest), System.Text.Encoding.ASCII.GetBytes(challenge));
    }

    private static bool IsUnreserved(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~';

    // ---- Description ----

    /// <summary>Why the partner's description may not go into the holder's message and the audit, or null.</summary>
    public static string? DescriptionProblem(string? description) =>
        description is { Length: > MaxDescriptionLength } ? $"description is longer than {MaxDescriptionLength} characters"

        // A line break, an escape or a bidi override in the holder's SMS or the audit could make the message say
        // something the partner did not put in the evidence.
        : description is not null && description.Any(IsLayoutControl) ? "description contains control characters"
        : null;

    /// <summary>Control characters, format characters (bidi overrides, zero-width) and line or paragraph separators.</summary>
    private static bool IsLayoutControl(char c) => char.GetUnicodeCategory(c) is UnicodeCategory.Control
        or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;

    /// <summary>Longest document label shown to the holder.</summary>
    public const int MaxLabelLength = 100;

    /// <summary>Why the labels cannot be shown to the holder, or null: none, or one per hash, each short and plain.</summary>
    public static string? LabelsProblem(IReadOnlyList<string> labels, int hashes)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count != 0 && labels.Count != hashes)
        {
            return $"send one label per hash ({hashes}) or none";
        }

        for (var i = 0; i < labels.Count; i++)
        {
            if (labels[i].Length > MaxLabelLength)
            {
                return $"label {i} is longer than {MaxLabelLength} characters";
            }

            if (labels[i].Any(IsLayoutControl))
            {
                return $"label {i} contains control characters";
            }
        }

        return null;
    }

    /// <summary>
    /// Why a partner may not register <paramref name="url"/> as a return URL, or null: absolute, https (http only
    /// to localhost in development), no user info and no fragment, at most 500 characters.
    /// </summary>
    public static string? ReturnUrlProblem(string url, bool development)
    {
        if (string.IsNullOrEmpty(url) || url.Length > 500 || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return $"return URL '{url}' is not an absolute URL of at most 500 characters";
        }

        var local = uri.IsLoopback && uri.Host == "localhost";
        return uri.Scheme != Uri.UriSchemeHttps && !(development && local && uri.Scheme == Uri.UriSchemeHttp)
            ? $"return URL '{url}' must be https"
            : uri.UserInfo.Length > 0 || uri.Fragment.Length > 0
            ? $"return URL '{url}' must have no user info and no fragment"
            : null;
    }

    // ---- Hashes and schemes ----

    /// <summary>The length in bytes of a hash of <paramref name="hash"/> (SHA-256, SHA-384, SHA-512).</summary>
    public static int HashLength(HashAlgorithmName hash) =>
        hash == HashAlgorithmName.SHA512 ? 64 : hash == HashAlgorithmName.SHA384 ? 48 : 32;

    /// <summary>Why the hash list is not acceptable, or null: 1 to <paramref name="max"/> hashes, each of the algorithm's length.</summary>
    public static string? HashListProblem(IReadOnlyList<ReadOnlyMemory<byte>> hashes, HashAlgorithmName hash, int max)
    {
        ArgumentNullException.ThrowIfNull(hashes);
        if (hashes.Count == 0 || hashes.Count > max)
        {
            return $"send 1 to {max} hashes";
        }

        var length = HashLength(hash);
        for (var i = 0; i < hashes.Count; i++)
        {
            if (hashes[i].Length != length)
            {
                return $"hash {i} has {hashes[i].Length} bytes; {hash.Name} hashes have {length}";
            }
        }

        return null;
    }

    /// <summary>SHA-256 over the algorithm and the ordered hashes: reordering, swapping or adding one changes it.</summary>
    public static string ListDigest(IReadOnlyList<ReadOnlyMemory<byte>> hashes, HashAlgorithmName hash)
    {
        ArgumentNullException.ThrowIfNull(hashes);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.ASCII.GetBytes(hash.Name + ":" + hashes.Count.ToString(CultureInfo.InvariantCulture) + ":"));
        foreach (var h in hashes)
        {
            sha.AppendData(h.Span);
        }

        return Convert.ToHexString(sha.GetHashAndReset());
    }

    /// <summary>The vault scheme for a key, hash and the partner's encoding wishes.</summary>
    public static SignatureScheme Scheme(KeyAlgorithm key, HashAlgorithmName hash, bool pkcs1, bool p1363)
    {
        var h = HashLength(hash);
        return (IsEc(key), p1363, pkcs1, h) switch
        {
            (true, false, _, 32) => SignatureScheme.EcdsaSha256Der,
            (true, false, _, 48) => SignatureScheme.EcdsaSha384Der,
            (true, false, _, _) => SignatureScheme.EcdsaSha512Der,
            (true, true, _, 32) => SignatureScheme.EcdsaSha256P1363,
            (true, true, _, 48) => SignatureScheme.EcdsaSha384P1363,
            (true, true, _, _) => SignatureScheme.EcdsaSha512P1363,
            (false, _, true, 32) => SignatureScheme.RsaPkcs1Sha256,
            (false, _, true, 48) => SignatureScheme.RsaPkcs1Sha384,
            (false, _, true, _) => SignatureScheme.RsaPkcs1Sha512,
            (false, _, false, 32) => SignatureScheme.RsaPssSha256,
            (false, _, false, 48) => SignatureScheme.RsaPssSha384,
            (false, _, false, _) => SignatureScheme.RsaPssSha512,
        };
    }

    /// <summary>The CMS signature algorithm for a key: ECDSA, or RSA with PKCS#1 v1.5 if asked, PSS otherwise.</summary>
    public static CmsSignatureScheme CmsScheme(KeyAlgorithm key, bool pkcs1) =>
        IsEc(key) ? CmsSignatureScheme.Ecdsa : pkcs1 ? CmsSignatureScheme.RsaPkcs1 : CmsSignatureScheme.RsaPss;

    /// <summary>IEEE P1363 (r||s) only for RAW ECDSA values: CMS always carries the DER Ecdsa-Sig-Value.</summary>
    public static bool UseP1363(bool asked, bool cms) => asked && !cms;

    public static bool IsEc(KeyAlgorithm key) => key is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384;

    /// <summary>Why a signature family the caller named (ECDSA or RSA) does not fit the credential's key, or null.</summary>
    public static string? KeyFamilyProblem(KeyAlgorithm key, bool? ecdsa) =>
        ecdsa is { } ec && ec != IsEc(key) ? $"the {(ec ? "ECDSA" : "RSA")} algorithm asked for does not fit the credential's {key} key" : null;
}
