using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DTrust.SigningServer.Api.Holder;
using DTrust.SigningServer.Callers;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Policy;
using DTrust.SigningServer.Signing;

namespace DTrust.SigningServer.Api.Csc;

// CSC's oauth2code authorization (credential scope) as RFC 6749's authorization-code grant with PKCE (RFC 7636):
// oauth2/authorize on the holder's origin turns the request into a holder approval and sends the browser to our
// approval page; the page sends it back to the registered redirect_uri with a code; oauth2/token exchanges the code,
// the verifier and the partner's API key (client_secret) for an access token, which is the SAD for signHash.
internal static partial class CscEndpoints
{
    private static async Task<IResult> OAuthAuthorizeAsync(HttpContext http, CallerDirectory callers, SigningFlow flow)
    {
        var start = Stopwatch.GetTimestamp();
        var q = http.Request.Query;
        var status = StatusCodes.Status302Found;
        try
        {
            // Until client and redirect URI are known good, nothing goes back to the URI: an open redirector would
            // let anyone bounce a holder's browser off our origin.
            var partner = await callers.PartnerByIdAsync(q["client_id"].ToString(), http.RequestAborted);
            if (partner is null)
            {
                status = StatusCodes.Status400BadRequest;
                return HolderPages.ErrorPage(http, "The signing request names no known application (client_id).", status);
            }

            var redirect = q["redirect_uri"].ToString();
            if (string.IsNullOrEmpty(redirect) || !partner.ReturnUrls.Contains(redirect, StringComparer.Ordinal))
            {
                status = StatusCodes.Status400BadRequest;
                return HolderPages.ErrorPage(http, "The signing request's return address (redirect_uri) is not registered for this application.", status);
            }

            var state = q["state"].ToString();
            try
            {
                var request = ApprovalRequestOf(q, redirect, state);
                var authorization = await flow.AuthorizeForHolderAsync(partner, request, http.RequestAborted);
                return Results.Redirect(authorization.ApprovalUrl.ToString());
            }
            catch (Exception e) when (Errors.Failures.Classify(e) is { } known)
            {
                var error = known.Kind switch
                {
                    ErrorKind.Unavailable => "temporarily_unavailable",
                    ErrorKind.Internal => "server_error",
                    ErrorKind.FailedPrecondition or ErrorKind.PermissionDenied => "access_denied",
                    _ => known.Message.StartsWith("scope", StringComparison.Ordinal) ? "invalid_scope"
                        : known.Message.StartsWith("response_type", StringComparison.Ordinal) ? "unsupported_response_type"
                        : "invalid_request",
                };
                return Results.Redirect(WithQuery(redirect, ("error", error), ("error_description", known.Message), ("state", state)));
            }
        }
        finally
        {
            ServerMetrics.CountCsc("oauth2/authorize", status, start);
        }
    }

    /// <summary>The holder approval a CSC authorization request asks for: query parameters, or v2's authorization_details.</summary>
    private static ApprovalRequest ApprovalRequestOf(IQueryCollection q, string redirect, string state)
    {
        if (q["response_type"].ToString() != "code")
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "response_type must be code");
        }

        if (SigningPolicy.CodeChallengeProblem(q["code_challenge"], q["code_challenge_method"]) is { } pkce)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, pkce);
        }

        string credentialId;
        string? hashOid;
        List<ReadOnlyMemory<byte>> hashes;
        var labels = new List<string>();
        if (q["authorization_details"].ToString() is { Length: > 0 } details)
        {
            CscAuthorizationDetail detail;
            try
            {
                detail = JsonSerializer.Deserialize(details, CscJson.Default.CscAuthorizationDetailArray) is [{ Type: "credential" } one]
                    ? one
                    : throw new DTrustException(ErrorKind.InvalidArgument, "authorization_details must hold one entry of type credential");
            }
            catch (JsonException)
            {
                throw new DTrustException(ErrorKind.InvalidArgument, "authorization_details is not valid JSON");
            }

            credentialId = Required(detail.CredentialId, "credentialID");
            hashOid = detail.HashAlgorithmOid;
            var digests = detail.DocumentDigests ?? [];
            hashes = Hashes([.. digests.Select(d => d.Hash ?? "")]);
            if (digests.Any(d => !string.IsNullOrEmpty(d.Label)))
            {
                labels.AddRange(digests.Select((d, i) => string.IsNullOrEmpty(d.Label) ? $"Document {i + 1}" : d.Label));
            }
        }
        else
        {
            if (q["scope"].ToString() != "credential")
            {
                throw new DTrustException(ErrorKind.InvalidArgument, "scope must be credential (signing one credential's hashes)");
            }

            credentialId = Required(q["credentialID"], "credentialID");
            hashOid = q["hashAlgorithmOID"].ToString() is { Length: > 0 } oid ? oid : null;
            var list = (q["hashes"].ToString() is { Length: > 0 } v2 ? v2 : q["hash"].ToString())
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            hashes = Hashes(list);
        }

        if (q["numSignatures"].ToString() is { Length: > 0 } n && n != hashes.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "numSignatures must equal the number of hashes");
        }

        return new ApprovalRequest(
            credentialId, hashes, HashAlgorithm(hashOid, hashes), q["description"].ToString(), labels, redirect, state, PartnerRedirects: true)
        {
            CodeChallenge = q["code_challenge"].ToString(),
        };
    }

    /// <summary>
    /// oauth2/token: the partner authenticates as the client (its API key as client_secret, in the form or HTTP
    /// Basic, or as a Bearer key), then the flow checks code, redirect URI and verifier. Errors in OAuth's words.
    /// </summary>
    private static async Task TokenAsync(HttpContext http, CallerDirectory callers, SigningFlow flow)
    {
        var start = Stopwatch.GetTimestamp();
        var status = StatusCodes.Status200OK;
        try
        {
            if (!http.Request.HasFormContentType)
            {
                status = await OAuthErrorAsync(http, 400, "invalid_request", "the token request is application/x-www-form-urlencoded");
                return;
            }

            var form = await http.Request.ReadFormAsync(http.RequestAborted);
            var (clientId, secret) = ClientCredentials(http, form);
            var partner = string.IsNullOrEmpty(secret) ? null : await callers.AuthenticateAsync("Bearer " + secret, null, http.RequestAborted);
            if (partner is not { Role: Store.CallerRole.Partner } || (!string.IsNullOrEmpty(clientId) && clientId != partner.Id))
            {
                http.Response.Headers.WWWAuthenticate = "Basic";
                status = await OAuthErrorAsync(http, 401, "invalid_client", "client authentication failed (client_id and the partner's API key as client_secret)");
                return;
            }

            if (form["grant_type"].ToString() != "authorization_code")
            {
                status = await OAuthErrorAsync(http, 400, "unsupported_grant_type", "grant_type must be authorization_code");
                return;
            }

            ApprovalStatus approval;
            try
            {
                approval = await flow.ExchangeOAuthCodeAsync(partner, form["code"], form["code_verifier"], form["redirect_uri"], http.RequestAborted);
            }
            catch (DTrustException e) when (e.Kind is ErrorKind.NotFound or ErrorKind.PermissionDenied or ErrorKind.InvalidArgument)
            {
                status = await OAuthErrorAsync(http, 400, e.Kind == ErrorKind.InvalidArgument ? "invalid_request" : "invalid_grant", e.Message);
                return;
            }

            if (approval.State != ApprovalState.Approved || approval.Sad is null)
            {
                status = await OAuthErrorAsync(http, 400, "invalid_grant", $"the authorization is {approval.State.ToString().ToUpperInvariant()}, not APPROVED");
                return;
            }

            http.Response.Headers.CacheControl = "no-store";
            http.Response.ContentType = "application/json";
            await http.Response.WriteAsync(new JsonObject
            {
                ["access_token"] = CscSad.Encode(approval.Id, approval.Sad),
                ["token_type"] = "Bearer",
                ["expires_in"] = (long)Math.Max(1, (approval.ExpiresAt - DateTimeOffset.UtcNow).TotalSeconds),
                ["scope"] = "credential",
                ["credentialID"] = approval.CredentialId,
            }.ToJsonString(Wire), http.RequestAborted);
        }
        catch (Exception e) when (Errors.Failures.Classify(e) is { } known)
        {
            status = await CscErrors.WriteAsync(http, known.Kind, known.Message);
        }
        finally
        {
            ServerMetrics.CountCsc("oauth2/token", status, start);
        }
    }

    private static (string? ClientId, string? Secret) ClientCredentials(HttpContext http, IFormCollection form)
    {
        var header = http.Request.Headers.Authorization.ToString();
        if (header.Length > 0 && form.ContainsKey("client_secret"))
        {
            // RFC 6749 §2.3: one authentication method per request; two that may disagree are none.
            return (null, null);
        }

        if (header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                var pair = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
                var colon = pair.IndexOf(':', StringComparison.Ordinal);
                return colon < 0 ? (null, null) : (Uri.UnescapeDataString(pair[..colon]), Uri.UnescapeDataString(pair[(colon + 1)..]));
            }
            catch (FormatException)
            {
                return (null, null);
            }
        }

        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return (form["client_id"], header["Bearer ".Length..].Trim());
        }

        return (form["client_id"], form["client_secret"]);
    }

    private static async Task<int> OAuthErrorAsync(HttpContext http, int status, string error, string description)
    {
        http.Response.StatusCode = status;
        http.Response.Headers.CacheControl = "no-store";
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(new JsonObject { ["error"] = error, ["error_description"] = description }.ToJsonString(Wire), CancellationToken.None);
        return status;
    }

    private static string WithQuery(string url, params (string Name, string Value)[] parameters)
    {
        var query = string.Join('&', parameters.Where(p => !string.IsNullOrEmpty(p.Value)).Select(p => p.Name + "=" + Uri.EscapeDataString(p.Value)));
        return url + (url.Contains('?', StringComparison.Ordinal) ? "&" : "?") + query;
    }
}
