using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using DTrust.KeyVault;
using DTrust.SigningServer.Credentials;
using DTrust.SigningServer.Factors;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Policy;
using DTrust.Store;
using DTrust.Tsa;

namespace DTrust.SigningServer.Signing;

/// <summary>What a partner asks for in HOLDER_APPROVAL mode.</summary>
public sealed record ApprovalRequest(
    string CredentialId,
    IReadOnlyList<ReadOnlyMemory<byte>> Hashes,
    HashAlgorithmName Hash,
    string? Description,
    IReadOnlyList<string> Labels,
    string? ReturnUrl,
    string? PartnerState,
    bool PartnerRedirects)
{
    /// <summary>OAuth 2.0 PKCE (S256) challenge, when the request came through CSC's <c>oauth2/authorize</c>.</summary>
    public string? CodeChallenge { get; init; }
}

/// <summary>What AuthorizeSignature answers in HOLDER_APPROVAL mode.</summary>
public sealed record HolderAuthorization(string Id, Uri ApprovalUrl, DateTimeOffset ExpiresAt);

/// <summary>What the holder's page shows: the authorization, and the factors the holder may answer with.</summary>
public sealed record ApprovalView(PendingApproval Approval, IReadOnlyList<string> Factors, bool CodeSent);

/// <summary>How an approval ended on the page: where to send the browser next (the partner's return URL), if anywhere.</summary>
public sealed record ApprovalOutcome(ApprovalState State, Uri? Redirect);

/// <summary>Why the holder's page cannot go on; the page words it in the holder's language.</summary>
public enum HolderRefusal
{
    /// <summary>No such link: never issued, already decided, expired.</summary>
    LinkInvalid,

    /// <summary>The credential cannot sign now (status, identification, lock).</summary>
    CannotSign,

    /// <summary>A wrong or missing answer (code, passkey, PIN); the detail says which and what is left.</summary>
    WrongAnswer,

    /// <summary>A limit (codes sent, challenges per minute).</summary>
    TooMany,

    /// <summary>A dependency failed; nothing was approved.</summary>
    Unavailable,
}

/// <summary>A refusal on the holder's page, with the server's English detail.</summary>
public sealed class HolderRefusalException : Exception
{
    public HolderRefusalException(HolderRefusal reason, string message)
        : base(message) => Reason = reason;

    public HolderRefusalException()
        : this(HolderRefusal.LinkInvalid, "the link is not valid")
    {
    }

    public HolderRefusalException(string message)
        : this(HolderRefusal.LinkInvalid, message)
    {
    }

    public HolderRefusalException(string message, Exception innerException)
        : this(HolderRefusal.Unavailable, message, innerException)
    {
    }

    public HolderRefusalException(HolderRefusal reason, string message, Exception innerException)
        : base(message, innerException) => Reason = reason;

    public HolderRefusal Reason { get; }
}

// Holder approval (sole control): the partner asks, the holder approves the exact documents on our page with the PIN
// and a second factor, and the partner signs with the signature activation data (SAD) it gets back. The PIN is used
// in the approving request only, to re-wrap the key under a KEK of the domain master key and the SAD; the grant
// (that re-wrapped key) waits in Redis, the SAD only sealed beside it, and signs once.
public sealed partial class SigningFlow
{
    private const string ApproveAction = "signature.approve";

    public async Task<HolderAuthorization> AuthorizeForHolderAsync(CallerRecord partner, ApprovalRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(partner);
        ArgumentNullException.ThrowIfNull(request);
        RequireHashes(request.Hashes, request.Hash);
        var problem = SigningPolicy.DescriptionProblem(request.Description)
            ?? SigningPolicy.LabelsProblem(request.Labels, request.Hashes.Count)
            ?? (request.PartnerState is { Length: > 200 } ? "state is longer than 200 characters" : null)
            ?? (!string.IsNullOrEmpty(request.ReturnUrl) && !partner.ReturnUrls.Contains(request.ReturnUrl, StringComparer.Ordinal)
                ? "return_url is not one of the partner's registered return URLs" : null);
        if (problem is not null)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, problem);
        }

        var credential = await CredentialAsync(partner, request.CredentialId, ct);
        const string Action = "signature.authorize";
        var holder = await SignableAsync(partner, credential, Action, ct);
        if (SigningPolicy.RequiredFactor(credential) is not null)
        {
            await RequireGuessesLeftAsync(partner, credential, Factor(SigningPolicy.DefaultFactor), Action, ct);
        }

        var approval = NewApproval(partner, credential, request, TimeSpan.FromSeconds(_options.ApprovalSeconds));
        var token = ApproveLinks.NewToken();
        if (!await _approvals.CreateAsync(approval, token, _options.SadAttempts, _options.ChallengesPerMinute))
        {
            await Refuse(partner, credential.Id, Action, "too many authorizations");
            throw new DTrustException(ErrorKind.ResourceExhausted, "too many authorizations for this credential; wait a minute");
        }

        var link = new Uri(_server.Listen.HolderOriginUri, "/approve/" + ApproveLinks.Segment(credential.Id, token));
        if (!request.PartnerRedirects)
        {
            try
            {
                await _notifications.SendApprovalLinkAsync(partner, approval, holder, link, ct);
            }
            catch (FactorRefusedException e)
            {
                await Refuse(partner, credential.Id, Action, e.Reason);
                throw new DTrustException(e.Kind, e.Message);
            }
        }

        await _audit.RecordAsync(
            partner.Id, partner.Tenant, credential.Id, "signature.authorized",
            details: new
            {
                mode = "holder_approval",
                authorization = approval.Id,
                hashes = approval.Documents.Count,
                list = approval.ListDigest,
                description = approval.Description,
                link_sent = !request.PartnerRedirects,
            },
            ct: ct);
        ServerMetrics.CountAuthorization(credential.Level, Outcome.Done);
        return new HolderAuthorization(approval.Id, link, approval.ExpiresAt);
    }

    /// <summary>The state of the partner's authorization (and the SAD once approved); NOT_FOUND for anyone else's.</summary>
    public async Task<ApprovalStatus> GetApprovalAsync(CallerRecord partner, string credentialId, string authorizationId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(partner);
        if (string.IsNullOrEmpty(authorizationId))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "authorization_id is required");
        }

        var credential = await CredentialAsync(partner, credentialId, ct);
        return await _approvals.StatusAsync(partner.Id, credential.Id, authorizationId, _time.GetUtcNow())
            ?? throw new DTrustException(ErrorKind.NotFound, "authorization not found");
    }

    /// <summary>The state now, then each change, until a final state (APPROVED included: the partner signs next).</summary>
    public async IAsyncEnumerable<ApprovalStatus> WatchApprovalAsync(
        CallerRecord partner, string credentialId, string authorizationId, [EnumeratorCancellation] CancellationToken ct)
    {
        var first = await GetApprovalAsync(partner, credentialId, authorizationId, ct);
        var events = await _approvals.SubscribeAsync(authorizationId);
        try
        {
            var last = first;
            yield return first;
            while (last.State == ApprovalState.Pending)
            {
                // A change is published by whichever node made it; the poll is the fallback for a lost message
                // and notices the expiry, which nobody publishes.
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                wait.CancelAfter(TimeSpan.FromSeconds(1));
                try
                {
                    await events.ReadAsync(wait.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                }

                var now = await GetApprovalAsync(partner, credentialId, authorizationId, ct);
                if (now.State != last.State)
                {
                    yield return now;
                }

                last = now;
            }
        }
        finally
        {
            await events.UnsubscribeAsync();
        }
    }

    /// <summary>The authorization a return URL's code names (single use, the same partner only).</summary>
    public async Task<ApprovalStatus> ExchangeReturnCodeAsync(CallerRecord partner, string code, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(partner);
        if (string.IsNullOrEmpty(code) || code.Length > 100)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "code is required");
        }

        var named = await _approvals.RedeemReturnCodeAsync(partner.Id, code)
            ?? throw new DTrustException(ErrorKind.NotFound, "unknown, expired or already used code");
        if ((await _approvals.GetAsync(named.CredentialId, named.Id, _time.GetUtcNow()))?.Approval.CodeChallenge is not null)
        {
            // An OAuth code is exchanged only with its PKCE verifier (oauth2/token): here it would skip that check.
            await _approvals.VoidAsync(named.CredentialId, named.Id);
            await Refuse(partner, named.CredentialId, "signature.token", "OAuth code presented without its verifier");
            throw new DTrustException(ErrorKind.PermissionDenied, "this code belongs to an OAuth authorization: exchange it at oauth2/token");
        }

        return await GetApprovalAsync(partner, named.CredentialId, named.Id, ct);
    }

    /// <summary>
    /// The holder's page for a pushed authorization request (CSC oauth2/authorize with a request_uri from
    /// oauth2/par): only the partner that pushed it (<paramref name="clientId"/>), only while it is pending.
    /// </summary>
    public async Task<Uri> PushedRequestPageAsync(string? clientId, string segment, CancellationToken ct)
    {
        var (credentialId, token) = ApproveLinks.Parse(segment) ?? throw new DTrustException(ErrorKind.NotFound, "unknown request_uri");
        var opened = await _approvals.OpenLinkAsync(credentialId, token, _time.GetUtcNow());
        return opened is ({ CodeChallenge: not null } approval, ApprovalState.Pending) && approval.PartnerId == clientId
            ? new Uri(_server.Listen.HolderOriginUri, "/approve/" + segment)
            : throw new DTrustException(ErrorKind.NotFound, "unknown, expired or already decided request_uri");
    }

    // ---- the holder's page ----

    /// <summary>
    /// The page for a link: what the holder is asked to approve, and how. Opening it sends the SMS code when the
    /// holder has no passkey to offer (and no code is out yet); with a passkey the page asks for one and offers a
    /// code instead.
    /// </summary>
    public async Task<ApprovalView> OpenApprovalAsync(string segment, CancellationToken ct)
    {
        var (approval, _, credential, _) = await PendingAsync(segment, ct);
        var factors = new List<string>();
        foreach (var name in SigningPolicy.PageFactors(credential))
        {
            if (_factors.TryGetValue(name, out var f) && await f.AvailableAsync(credential, ct))
            {
                factors.Add(name);
            }
        }

        var codeSent = false;
        if (factors is [SmsCodeFactor.FactorName] && !await _challenges.ExistsAsync(credential.Id, approval.Id))
        {
            await IssuePageFactorAsync(segment, SmsCodeFactor.FactorName, ct);
            codeSent = true;
        }

        return new ApprovalView(approval, factors, codeSent);
    }

    /// <summary>
    /// Issues the page's challenge for <paramref name="factorName"/> (a new SMS code, or a passkey request) and
    /// returns what the page's script needs (the passkey request options), if anything.
    /// </summary>
    public async Task<string?> IssuePageFactorAsync(string segment, string factorName, CancellationToken ct)
    {
        var (approval, partner, credential, holder) = await PendingAsync(segment, ct);
        if (!SigningPolicy.PageFactors(credential).Contains(factorName) || !_factors.TryGetValue(factorName, out var factor))
        {
            throw new HolderRefusalException(HolderRefusal.WrongAnswer, $"the factor '{factorName}' is not offered for this credential");
        }

        return await Refusals(async () =>
        {
            await RequireGuessesLeftAsync(partner, credential, factor, ApproveAction, ct);
            var remaining = approval.ExpiresAt - _time.GetUtcNow();
            var lifetime = remaining < TimeSpan.FromSeconds(_options.ChallengeSeconds) ? remaining : TimeSpan.FromSeconds(_options.ChallengeSeconds);
            IssuedFactor issued;
            try
            {
                issued = await factor.IssueAsync(
                    new FactorRequest(partner, credential, holder, approval.Id, approval.ListDigest, approval.Documents.Count, approval.Description, lifetime)
                    {
                        Transaction = approval.CanonicalTransaction(),
                    },
                    ct);
            }
            catch (FactorRefusedException e)
            {
                await Refuse(partner, credential.Id, ApproveAction, e.Reason);
                throw new DTrustException(e.Kind, e.Message);
            }

            var challenge = new Challenge(
                approval.Id, partner.Id, credential.Id, approval.ListDigest, approval.Documents.Count, issued.Value,
                _time.GetUtcNow() + lifetime, factor.Name);
            if (!await _challenges.CreateAsync(challenge, _options.OtpAttempts, _options.ChallengesPerMinute))
            {
                throw new DTrustException(ErrorKind.ResourceExhausted, "too many requests for this credential; wait a minute");
            }

            await issued.DeliverAsync(ct);
            return issued.PageOptions;
        });
    }

    /// <summary>
    /// The holder approves: the factor's answer is checked first (it gates the PIN: no PIN guess without the
    /// second factor), then the PIN opens the key, which is re-wrapped under the SAD's KEK. The grant is stored once
    /// (a concurrent decision wins or loses whole) and the approval audited with what the holder was shown.
    /// </summary>
    public async Task<ApprovalOutcome> ApproveAsync(string segment, string? pin, string? factorName, string? answer, CancellationToken ct)
    {
        var (approval, partner, credential, _) = await PendingAsync(segment, ct);
        var pinBytes = await Refusals(() => Task.FromResult(Pins.Presented(pin, "activation PIN")));
        try
        {
            return await Refusals(async () =>
            {
                var offered = SigningPolicy.PageFactors(credential);
                object? evidence = null;
                var used = "pin";
                if (offered.Count > 0)
                {
                    if (factorName is null || !offered.Contains(factorName) || !_factors.TryGetValue(factorName, out var factor))
                    {
                        throw new DTrustException(ErrorKind.InvalidArgument, "answer with the one-time code or a passkey");
                    }

                    if (string.IsNullOrEmpty(answer))
                    {
                        throw new DTrustException(ErrorKind.InvalidArgument, $"the {factor.ResponseName} is required");
                    }

                    evidence = await ConsumeFactorAsync(
                        partner, credential, approval.Id, approval.ListDigest, answer, factor, required: true, ApproveAction, ct);
                    used = factor.Name;
                }

                var (grant, _, transaction) = await GrantAsync(partner, credential, approval, pinBytes, used, evidence, ApproveAction, ct);
                if (!await _approvals.ApproveAsync(approval, ParseSegment(segment).Token, grant, _time.GetUtcNow()))
                {
                    throw new HolderRefusalException(HolderRefusal.LinkInvalid, "this request was already decided or has expired");
                }

                await _audit.RecordAsync(
                    HolderActor(credential), partner.Tenant, credential.Id, "signature.approved",
                    details: new { authorization = approval.Id, partner = partner.Id, factor = used, transaction, evidence },
                    ct: CancellationToken.None);
                return new ApprovalOutcome(ApprovalState.Approved, await ReturnUrlAsync(approval, "approved"));
            });
        }
        finally
        {
            Array.Clear(pinBytes);
        }
    }

    /// <summary>The authorization as the holder (or the audit) sees it: who asks, for what, until when.</summary>
    private PendingApproval NewApproval(CallerRecord partner, CredentialRecord credential, ApprovalRequest request, TimeSpan lifetime) =>
        new(
            Callers.ApiKeys.NewId("authz"),
            partner.Id,
            partner.Name,
            partner.Tenant,
            credential.Id,
            credential.Level.ToString().ToUpperInvariant(),
            X509CertificateLoader.LoadCertificate(credential.Certificate).Subject,
            request.Hash.Name!,
            [.. request.Hashes.Select((h, i) => new ApprovalDocument(
                request.Labels.Count == 0 ? $"Document {i + 1}" : request.Labels[i], h.ToArray()))],
            string.IsNullOrEmpty(request.Description) ? null : request.Description,
            _time.GetUtcNow() + lifetime,
            string.IsNullOrEmpty(request.ReturnUrl) ? null : request.ReturnUrl,
            string.IsNullOrEmpty(request.PartnerState) ? null : request.PartnerState)
        {
            CodeChallenge = request.CodeChallenge,
        };

    /// <summary>
    /// Opens the key with the PIN (one attempt of the credential's PIN counter) and re-wraps it under the KEK of a
    /// fresh SAD: the grant to store with the approval, the SAD, and the canonical transaction it covers.
    /// </summary>
    private async Task<(ApprovalGrant Grant, string Sad, string Transaction)> GrantAsync(
        CallerRecord partner, CredentialRecord credential, PendingApproval approval, byte[] pin, string factor, object? evidence, string action,
        CancellationToken ct)
    {
        var sad = ApproveLinks.Base64Url(RandomNumberGenerator.GetBytes(32));
        var rewrapped = await _registry.WithPinAttemptAsync(
            partner, credential, action, "wrong PIN",
            () => _vault.Domain(SigningPolicy.KeyDomain(credential.Level)).RewrapAsync(credential.Key, pin, SadBytes(sad), ct), ct);
        var transaction = Encoding.UTF8.GetString(approval.CanonicalTransaction());
        var evidenceJson = JsonSerializer.Serialize(new { factor, transaction, evidence });
        var grant = new ApprovalGrant(
            JsonSerializer.Serialize(rewrapped), _codes.Protect("sad", approval.Id, sad), ApprovalStore.SadDigest(approval.Id, sad), factor, evidenceJson);
        return (grant, sad, transaction);
    }

    /// <summary>The holder declines: the authorization is REJECTED (once) and the partner learns it.</summary>
    public async Task<ApprovalOutcome> RejectAsync(string segment, CancellationToken ct)
    {
        var (approval, partner, credential, _) = await PendingAsync(segment, ct);
        return await Refusals(async () =>
        {
            if (!await _approvals.RejectAsync(approval, ParseSegment(segment).Token, _time.GetUtcNow()))
            {
                throw new HolderRefusalException(HolderRefusal.LinkInvalid, "this request was already decided or has expired");
            }

            await _audit.RecordAsync(
                HolderActor(credential), partner.Tenant, credential.Id, "signature.rejected",
                details: new { authorization = approval.Id, partner = partner.Id }, ct: CancellationToken.None);
            return new ApprovalOutcome(ApprovalState.Rejected, await ReturnUrlAsync(approval, "rejected"));
        });
    }

    // ---- signing with the SAD ----

    private async Task<SignatureResult> SignApprovedAsync(CallerRecord partner, SignatureRequest request, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(request.Sad) || request.Sad.Length > 200)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "sad is required with authorization_id");
        }

        if (!string.IsNullOrEmpty(request.Pin) || !string.IsNullOrEmpty(request.Otp) || !string.IsNullOrEmpty(request.ChallengeId))
        {
            // The partner never needs them in this mode; accepting them would teach integrations to collect them.
            throw new DTrustException(ErrorKind.InvalidArgument, "with authorization_id send neither challenge_id, activation_pin nor otp");
        }

        var credential = await CredentialAsync(partner, request.CredentialId, ct);
        try
        {
            RequireKeyFamily(credential, request);
            await SignableAsync(partner, credential, "signature.sign", ct);
            var grant = await ConsumeGrantAsync(partner, credential, request);
            var key = JsonSerializer.Deserialize<WrappedCredentialKey>(grant.WrappedKeyJson);
            if (key is null || key.Domain != credential.Key.Domain
                || !key.SubjectPublicKeyInfo.AsSpan().SequenceEqual(credential.Key.SubjectPublicKeyInfo))
            {
                throw new DTrustException(ErrorKind.PermissionDenied, "the approval failed its integrity check; authorize again");
            }

            (SignatureResult Result, IReadOnlyList<TsaResult> Stamps) signed;
            try
            {
                signed = await SignInVaultAsync(credential, request, (digests, scheme) => SignWithSadAsync(credential, key, request.Sad, digests, scheme, ct), ct);
            }
            catch (Exception e) when (e is not DTrustException { Kind: ErrorKind.FailedPrecondition })
            {
                try
                {
                    await Refuse(partner, credential.Id, "signature.sign", "signing failed: " + e.GetType().Name);
                }
                catch (DTrustException)
                {
                }

                throw;
            }

            using var evidence = JsonDocument.Parse(grant.EvidenceJson);
            await AuditSignaturesAsync(partner, credential, request, signed.Stamps, evidence.RootElement.Clone());
            ServerMetrics.CountSignatures(credential.Level, request.Format, Outcome.Done, request.Hashes.Count);
            return signed.Result;
        }
        catch (Exception e)
        {
            ServerMetrics.CountSignatures(credential.Level, request.Format, ServerMetrics.OutcomeOf(e), request.Hashes.Count);
            throw;
        }
    }

    private async Task<StoredGrant> ConsumeGrantAsync(CallerRecord partner, CredentialRecord credential, SignatureRequest request)
    {
        var digest = SigningPolicy.ListDigest(request.Hashes, request.Hash);
        var (outcome, _, grant, detail) = await _approvals.ConsumeAsync(
            partner.Id, credential.Id, request.AuthorizationId!, digest, request.Sad!, _time.GetUtcNow());
        switch (outcome)
        {
            case GrantOutcome.Consumed:
                return grant!;
            case GrantOutcome.NotFound:
                await Refuse(partner, credential.Id, "signature.sign", "no such authorization");
                throw new DTrustException(ErrorKind.NotFound, "authorization not found");
            case GrantOutcome.NotApproved:
                await Refuse(partner, credential.Id, "signature.sign", $"authorization {detail}");
                throw new DTrustException(ErrorKind.FailedPrecondition, $"the authorization is {detail.ToUpperInvariant()}, not APPROVED");
            case GrantOutcome.HashesDiffer:
                await Refuse(partner, credential.Id, "signature.sign", "hashes differ from the approval");
                throw new DTrustException(ErrorKind.PermissionDenied, "the hashes differ from those the holder approved");
            case GrantOutcome.WrongSad:
                await Refuse(partner, credential.Id, "signature.sign", "wrong SAD");
                throw new DTrustException(
                    ErrorKind.PermissionDenied, detail == "0" ? "wrong SAD; the authorization is void" : $"wrong SAD; {detail} attempt(s) left");
            default:
                await Refuse(partner, credential.Id, "signature.sign", "approval failed its integrity check");
                throw new DTrustException(ErrorKind.PermissionDenied, "the approval failed its integrity check; authorize again");
        }
    }

    /// <summary>
    /// Signs with the key the approval re-wrapped: the SAD opens it, no PIN attempt is taken (the holder's PIN was
    /// checked at approval). A SAD that does not open a grant whose seals verified means tampering or a fault,
    /// never the holder's doing.
    /// </summary>
    private async Task<IReadOnlyList<byte[]>> SignWithSadAsync(
        CredentialRecord credential, WrappedCredentialKey key, string sad, IReadOnlyList<ReadOnlyMemory<byte>> digests, SignatureScheme scheme,
        CancellationToken ct)
    {
        try
        {
            return await _vault.Domain(SigningPolicy.KeyDomain(credential.Level)).SignBatchAsync(key, SadBytes(sad), digests, scheme, ct);
        }
        catch (KeyVaultException e) when (e.Kind is KeyVaultErrorKind.WrongPin or KeyVaultErrorKind.CorruptKeyBlob or KeyVaultErrorKind.WrongDomain)
        {
            throw new DTrustException(ErrorKind.PermissionDenied, "the SAD does not open the approved key; authorize again", e);
        }
    }

    /// <summary>The SAD as the vault's KEK input; the label keeps it apart from any PIN.</summary>
    private static byte[] SadBytes(string sad) => Encoding.UTF8.GetBytes("dtrust-sad:" + sad);

    private static string HolderActor(CredentialRecord credential) => "holder:" + credential.UserId;

    private static (string CredentialId, string Token) ParseSegment(string segment) =>
        ApproveLinks.Parse(segment) ?? throw new HolderRefusalException(HolderRefusal.LinkInvalid, "this link is not valid");

    /// <summary>The pending authorization behind a link, its partner (as recorded), the credential and its holder.</summary>
    private async Task<(PendingApproval Approval, CallerRecord Partner, CredentialRecord Credential, UserRecord Holder)> PendingAsync(
        string segment, CancellationToken ct)
    {
        var (credentialId, token) = ParseSegment(segment);
        var opened = await Refusals(() => _approvals.OpenLinkAsync(credentialId, token, _time.GetUtcNow()));
        if (opened is not ({ } approval, ApprovalState.Pending))
        {
            throw new HolderRefusalException(HolderRefusal.LinkInvalid, "this link is not valid, was already used or has expired");
        }

        // The partner as recorded in the sealed authorization: the page acts for that request, not for a caller.
        var partner = new CallerRecord
        {
            Id = approval.PartnerId,
            Tenant = approval.Tenant,
            Name = approval.PartnerName,
            Role = CallerRole.Partner,
            CredentialHash = [],
        };
        return await Refusals(async () =>
        {
            var credential = await CredentialAsync(partner, credentialId, ct);
            var holder = await SignableAsync(partner, credential, ApproveAction, ct);
            if (!SigningPolicy.AllowedModes(credential.Level, _options.ExplicitQualified).Contains(SigningMode.HolderApproval))
            {
                throw new DTrustException(ErrorKind.FailedPrecondition, "this credential does not sign by holder approval");
            }

            return (approval, partner, credential, holder);
        });
    }

    private async Task<Uri?> ReturnUrlAsync(PendingApproval approval, string decision)
    {
        if (approval.ReturnUrl is null)
        {
            return null;
        }

        var state = approval.PartnerState is null ? "" : "&state=" + Uri.EscapeDataString(approval.PartnerState);
        if (approval.CodeChallenge is not null && decision != "approved")
        {
            // OAuth 2.0 (RFC 6749 §4.1.2.1): a declined request comes back as an error, with no code to exchange.
            return new Uri(approval.ReturnUrl + (approval.ReturnUrl.Contains('?', StringComparison.Ordinal) ? "&" : "?") + "error=access_denied" + state);
        }

        var code = await _approvals.IssueReturnCodeAsync(approval);
        var query = "code=" + Uri.EscapeDataString(code) + "&result=" + decision + state;
        return new Uri(approval.ReturnUrl + (approval.ReturnUrl.Contains('?', StringComparison.Ordinal) ? "&" : "?") + query);
    }

    /// <summary>The flow's errors as the page's refusals (the page words them; it decides nothing).</summary>
    private static async Task<T> Refusals<T>(Func<Task<T>> step)
    {
        try
        {
            return await step();
        }
        catch (DTrustException e)
        {
            throw new HolderRefusalException(
                e.Kind switch
                {
                    ErrorKind.NotFound => HolderRefusal.LinkInvalid,
                    ErrorKind.PermissionDenied or ErrorKind.InvalidArgument => HolderRefusal.WrongAnswer,
                    ErrorKind.FailedPrecondition when e.Message.StartsWith("wrong PIN", StringComparison.Ordinal) => HolderRefusal.WrongAnswer,
                    ErrorKind.FailedPrecondition => HolderRefusal.CannotSign,
                    ErrorKind.ResourceExhausted => HolderRefusal.TooMany,
                    _ => HolderRefusal.Unavailable,
                },
                e.Message);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException or KeyVaultException)
        {
            throw new HolderRefusalException(HolderRefusal.Unavailable, "the service is unavailable; nothing was approved, try again", e);
        }
    }
}
