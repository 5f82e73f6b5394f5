using System.Security.Cryptography;
using DTrust.SigningServer.Callers;
using DTrust.SigningServer.Credentials;
using DTrust.SigningServer.Factors;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Policy;
using DTrust.Store;

namespace DTrust.SigningServer.Signing;

/// <summary>What an explicit authorization to a SAD answers: the authorization, its SAD, until when it signs.</summary>
public sealed record SadAuthorization(string AuthorizationId, string Sad, DateTimeOffset ExpiresAt);

// Explicit authorization that answers a SAD (CSC credentials/authorize): the partner relays PIN and code in one call,
// and gets back what a holder's approval would have given it. The same grant as the approval page makes, so signing
// with it is one path (SignApprovedAsync); only the levels that allow explicit mode get here. And the OAuth code
// exchange of CSC's oauth2code flow, which ends in the SAD of a holder's approval.
public sealed partial class SigningFlow
{
    /// <summary>The hash-list digest of a code sent before the hashes are known (CSC's sendOTP comes first).</summary>
    private const string UnboundDigest = "unbound";

    /// <summary>
    /// Sends the holder a one-time code for the partner's next explicit authorization of this credential (CSC
    /// <c>credentials/sendOTP</c>). CSC sends it before naming the hashes, so this code is bound to partner and
    /// credential only; the hashes are bound when <see cref="AuthorizeToSadAsync"/> consumes it. A new code replaces
    /// the partner's previous one. Refused where explicit mode is not allowed or no code is needed.
    /// </summary>
    public async Task SendCodeAsync(CallerRecord partner, string credentialId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(partner);
        const string Action = "signature.send_code";
        var credential = await CredentialAsync(partner, credentialId, ct);
        var holder = await SignableAsync(partner, credential, Action, ct);
        await RequireExplicitAsync(partner, credential, Action);
        var factor = RequiredFactor(credential)
            ?? throw new DTrustException(ErrorKind.FailedPrecondition, "this credential signs with the PIN alone; no one-time code is sent");
        await RequireGuessesLeftAsync(partner, credential, factor, Action, ct);
        var id = UnboundChallengeId(partner);

        // A new code would come with fresh attempts: while one is out, it is the one to answer.
        if (await _challenges.ExistsAsync(credential.Id, id))
        {
            throw new DTrustException(ErrorKind.ResourceExhausted, "a code for this credential is already out; answer it or wait until it expires");
        }
        var lifetime = TimeSpan.FromSeconds(_options.ChallengeSeconds);
        IssuedFactor issued;
        try
        {
            issued = await factor.IssueAsync(new FactorRequest(partner, credential, holder, id, UnboundDigest, 0, null, lifetime), ct);
        }
        catch (FactorRefusedException e)
        {
            await Refuse(partner, credential.Id, Action, e.Reason);
            throw new DTrustException(e.Kind, e.Message);
        }

        var challenge = new Challenge(id, partner.Id, credential.Id, UnboundDigest, 0, issued.Value, _time.GetUtcNow() + lifetime, factor.Name);
        if (!await _challenges.CreateAsync(challenge, _options.OtpAttempts, _options.ChallengesPerMinute))
        {
            await Refuse(partner, credential.Id, Action, "too many challenges");
            throw new DTrustException(ErrorKind.ResourceExhausted, "too many authorizations for this credential; wait a minute");
        }

        try
        {
            await issued.DeliverAsync(ct);
        }
        catch
        {
            await _challenges.DeleteAsync(credential.Id, id);
            throw;
        }

        await _audit.RecordAsync(
            partner.Id, partner.Tenant, credential.Id, "signature.code_sent", details: new { factor = factor.Name, message = issued.AuditMessage }, ct: ct);
    }

    /// <summary>
    /// Explicit authorization to a SAD: the code (from <see cref="SendCodeAsync"/>) first, then the PIN opens the
    /// key, which is re-wrapped under a fresh SAD's KEK for exactly these hashes. The grant is stored APPROVED, so
    /// the partner signs with <c>authorization_id</c> and SAD like after a holder's approval.
    /// </summary>
    public async Task<SadAuthorization> AuthorizeToSadAsync(
        CallerRecord partner, string credentialId, IReadOnlyList<ReadOnlyMemory<byte>> hashes, HashAlgorithmName hash, string? description,
        string? pin, string? otp, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(partner);
        RequireHashes(hashes, hash);
        if (SigningPolicy.DescriptionProblem(description) is { } problem)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, problem);
        }

        const string Action = "signature.authorize";
        var credential = await CredentialAsync(partner, credentialId, ct);
        try
        {
            await SignableAsync(partner, credential, Action, ct);
            await RequireExplicitAsync(partner, credential, Action);
            var pinBytes = Pins.Presented(pin, "activation PIN");
            try
            {
                var factor = RequiredFactor(credential);
                object? evidence = null;
                if (factor is not null)
                {
                    if (string.IsNullOrEmpty(otp))
                    {
                        throw new DTrustException(ErrorKind.InvalidArgument, $"the {factor.ResponseName} is required (send it first with sendOTP)");
                    }

                    evidence = await ConsumeFactorAsync(
                        partner, credential, UnboundChallengeId(partner), UnboundDigest, otp, factor, required: true, Action, ct);
                }

                var approval = NewApproval(
                    partner, credential, new ApprovalRequest(credentialId, hashes, hash, description, [], null, null, PartnerRedirects: false),
                    TimeSpan.FromSeconds(_options.ChallengeSeconds));
                var used = factor?.Name ?? "pin";

                // The per-minute limit before any PIN attempt: PIN-only credentials have no code to slow guessing.
                // No link is ever handed out for this authorization: the token only gives the store its usual shape.
                var token = ApproveLinks.NewToken();
                if (!await _approvals.CreateAsync(approval, token, _options.SadAttempts, _options.ChallengesPerMinute))
                {
                    await Refuse(partner, credential.Id, Action, "too many authorizations");
                    throw new DTrustException(ErrorKind.ResourceExhausted, "too many authorizations for this credential; wait a minute");
                }

                var (grant, sad, _) = await GrantAsync(partner, credential, approval, pinBytes, used, evidence, Action, ct);

                if (!await _approvals.ApproveAsync(approval, token, grant, _time.GetUtcNow()))
                {
                    throw new DTrustException(ErrorKind.Unavailable, "the authorization could not be stored; authorize again");
                }

                await _audit.RecordAsync(
                    partner.Id, partner.Tenant, credential.Id, "signature.authorized",
                    details: new
                    {
                        mode = "explicit_sad",
                        authorization = approval.Id,
                        hashes = approval.Documents.Count,
                        list = approval.ListDigest,
                        description = approval.Description,
                        factor = used,
                    },
                    ct: CancellationToken.None);
                ServerMetrics.CountAuthorization(credential.Level, Outcome.Done);
                return new SadAuthorization(approval.Id, sad, approval.ExpiresAt);
            }
            finally
            {
                Array.Clear(pinBytes);
            }
        }
        catch (Exception e)
        {
            ServerMetrics.CountAuthorization(credential.Level, ServerMetrics.OutcomeOf(e));
            throw;
        }
    }

    /// <summary>
    /// OAuth 2.0 authorization-code exchange (CSC <c>oauth2/token</c>): the code from the redirect, once, for the
    /// partner it was issued to, with the redirect URI of the request and the PKCE verifier of its challenge. The
    /// code is spent whatever the outcome (RFC 6749 §4.1.2). Answers the authorization's status, SAD included.
    /// </summary>
    public async Task<ApprovalStatus> ExchangeOAuthCodeAsync(
        CallerRecord partner, string? code, string? verifier, string? redirectUri, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(partner);
        if (string.IsNullOrEmpty(code) || code.Length > 100)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "code is required");
        }

        var named = await _approvals.RedeemReturnCodeAsync(partner.Id, code)
            ?? throw new DTrustException(ErrorKind.NotFound, "unknown, expired or already used code");
        var found = await _approvals.GetAsync(named.CredentialId, named.Id, _time.GetUtcNow())
            ?? throw new DTrustException(ErrorKind.NotFound, "the authorization has expired");
        var approval = found.Approval;
        var why = approval.CodeChallenge is null ? "the code was not issued by oauth2/authorize"
            : !string.Equals(approval.ReturnUrl, redirectUri, StringComparison.Ordinal) ? "redirect_uri differs from the authorization request's"
            : !SigningPolicy.CodeVerifierMatches(verifier, approval.CodeChallenge) ? "code_verifier does not match the code_challenge"
            : null;
        if (why is not null)
        {
            await _approvals.VoidAsync(approval.CredentialId, approval.Id);
            await Refuse(partner, approval.CredentialId, "signature.token", why);
            throw new DTrustException(ErrorKind.PermissionDenied, why);
        }

        return await GetApprovalAsync(partner, approval.CredentialId, approval.Id, ct);
    }

    private async Task RequireExplicitAsync(CallerRecord partner, CredentialRecord credential, string action)
    {
        if (!SigningPolicy.AllowedModes(credential.Level, _options.ExplicitQualified).Contains(SigningMode.Explicit)
            || !SigningPolicy.UnboundCodeAllowed(credential.Level))
        {
            var why = $"{credential.Level.ToString().ToUpperInvariant()} credentials do not sign with factors relayed by the partner; " +
                "the holder approves on our page (oauth2code)";
            await Refuse(partner, credential.Id, action, why);
            throw new DTrustException(ErrorKind.FailedPrecondition, why);
        }
    }

    private static string UnboundChallengeId(CallerRecord partner) => "unbound." + partner.Id;
}
