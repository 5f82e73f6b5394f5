using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using DTrust.SigningServer.Api.Holder;
using DTrust.SigningServer.Callers;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Policy;
using DTrust.SigningServer.Signing;
using Microsoft.AspNetCore.Http.Features;

namespace DTrust.SigningServer.Api.Csc;

// CSC's oauth2code authorization (credential scope) as RFC 6749's authorization-code grant with PKCE (RFC 7636) and
// pushed authorization requests (RFC 9126): the partner pushes the request with its API key to oauth2/par and gets a
// request_uri; the holder's browser brings it to oauth2/authorize on the holder's origin, which sends it to our
// approval page; the page sends it back to the registered redirect_uri with a code; oauth2/token exchanges code,
// verifier and the partner's API key (client_secret) for an access token, which is the SAD for signHash.
// Requests are pushed, never taken from the browser's query: an anonymous authorize would let anyone who knows a
// client_id and a credential ID start approvals in the partner's name, send the holder SMS codes and spend the
// credential's wrong-code allowance until it locks.
internal static partial class CscEndpoints
{
    private const string RequestUriPrefix = "urn:ietf:params:oauth:request_uri:";

    /// <summary>oauth2/par: the authorization request, authenticated as the partner; answers the request_uri.</summary>
    private static async Task ParAsync(HttpContext http, SigningFlow flow)
    {
        var start = Stopwatch.GetTimestamp();
        var status = StatusCodes.Status201Created;
        try
        {
            if (await FormAsync(http) is not { } form)
            {
                status = await OAuthErrorAsync(http, 400, "invalid_request", "the request is an application/x-www-form-urlencoded body of at most 256 kB");
                return;
            }

            var partner = http.Caller();
            string Get(string name) => form[name].ToString();
            if (Get("client_id") is { Length: > 0 } clientId && clientId != partner.Id)
            {
                status = await OAuthErrorAsync(http, 401, "invalid_client", "client_id is not the caller whose API key authenticated the request");
                return;
            }

            var redirect = Get("redirect_uri");
            var refusal = Get("response_type") != "code" ? ("unsupported_response_type", "response_type must be code")
                : Get("authorization_details").Length == 0 && Get("scope") != "credential"
                    ? ("invalid_scope", "scope must be credential (signing one credential's hashes), or send authorization_details")
                : !partner.ReturnUrls.Contains(redirect, StringComparer.Ordinal) ? ("invalid_request", "redirect_uri is not registered for this partner")
                : ((string, string)?)null;
            if (refusal is var (error, description))
            {
                status = await OAuthErrorAsync(http, 400, error, description);
                return;
            }

            var authorization = await flow.AuthorizeForHolderAsync(partner, ApprovalRequestOf(Get, redirect, Get("state")), http.RequestAborted);
            await WriteJsonAsync(http, status, new JsonObject
            {
                ["request_uri"] = RequestUriPrefix + authorization.ApprovalUrl.AbsolutePath["/approve/".Length..],
                ["expires_in"] = (long)Math.Max(1, (authorization.ExpiresAt - DateTimeOffset.UtcNow).TotalSeconds),
            }, http.RequestAborted);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            status = 499;
        }
        catch (Exception e)
        {
            status = await FailAsync(http, "oauth2", e);
        }
        finally
        {
            ServerMetrics.CountCsc("oauth2/par", status, start);
        }
    }

    /// <summary>oauth2/authorize: the browser with client_id and the pushed request_uri, sent on to the approval page.</summary>
    private static async Task<IResult> OAuthAuthorizeAsync(HttpContext http, SigningFlow flow)
    {
        var start = Stopwatch.GetTimestamp();
        var status = StatusCodes.Status302Found;
        try
        {
            // Nothing from this query is trusted enough to redirect to: every refusal is a page on our origin.
            var requestUri = http.Request.Query["request_uri"].ToString();
            if (!requestUri.StartsWith(RequestUriPrefix, StringComparison.Ordinal))
            {
                status = StatusCodes.Status400BadRequest;
                return HolderPages.ErrorPage(http, "This signing request did not come from the application by the secure route (oauth2/par); ask it to start again.", status);
            }

            try
            {
                var page = await flow.PushedRequestPageAsync(http.Request.Query["client_id"], requestUri[RequestUriPrefix.Length..], http.RequestAborted);
                return Results.Redirect(page.ToString());
            }
            catch (DTrustException e) when (e.Kind == ErrorKind.NotFound)
            {
                status = StatusCodes.Status400BadRequest;
                return HolderPages.ErrorPage(http, "This signing request is unknown, has expired or was already decided.", status);
            }
        }
        catch (Exception e) when (Errors.Failures.Classify(e) is { } known)
        {
            status = known.Kind == ErrorKind.Unavailable ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError;
            return HolderPages.ErrorPage(http, "The service is unavailable; nothing was approved. Try again in a moment.", status);
        }
        catch (Exception e) when (!http.RequestAborted.IsCancellationRequested)
        {
            Unexpected(http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("DTrust.Csc"), "oauth2/authorize", e);
            status = StatusCodes.Status500InternalServerError;
            return HolderPages.ErrorPage(http, "Something went wrong on our side; nothing was approved.", status);
        }
        finally
        {
            ServerMetrics.CountCsc("oauth2/authorize", status, start);
        }
    }

    /// <summary>The holder approval a pushed CSC authorization request asks for: its parameters, or v2's authorization_details.</summary>
    private static ApprovalRequest ApprovalRequestOf(Func<string, string> get, string redirect, string state)
    {
        if (SigningPolicy.CodeChallengeProblem(get("code_challenge"), get("code_challenge_method")) is { } pkce)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, pkce);
        }

        string credentialId;
        string? hashOid;
        List<ReadOnlyMemory<byte>> hashes;
        var labels = new List<string>();
        if (get("authorization_details") is { Length: > 0 } details)
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
                throw new DTrustException(ErrorKind.InvalidArgument, "authorization_details is not valid JSON of the CSC shape");
            }

            credentialId = Required(detail.CredentialId, "credentialID");
            hashOid = detail.HashAlgorithmOid;
            var digests = detail.DocumentDigests ?? [];
            hashes = Hashes([.. digests.Select(d => d?.Hash)]);
            if (digests.Any(d => !string.IsNullOrEmpty(d?.Label)))
            {
                labels.AddRange(digests.Select((d, i) => string.IsNullOrEmpty(d?.Label) ? $"Document {i + 1}" : d.Label));
            }
        }
        else
        {
            credentialId = Required(get("credentialID"), "credentialID");
            hashOid = get("hashAlgorithmOID") is { Length: > 0 } oid ? oid : null;
            var list = (get("hashes") is { Length: > 0 } v2 ? v2 : get("hash"))
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            hashes = Hashes(list);
        }

        if (get("numSignatures") is { Length: > 0 } n && n != hashes.Count.ToString(System.Globalization.CultureInfo.InvariantCulture))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "numSignatures must equal the number of hashes");
        }

        return new ApprovalRequest(
            credentialId, hashes, HashAlgorithm(hashOid, hashes), get("description"), labels, redirect, state, PartnerRedirects: true)
        {
            CodeChallenge = get("code_challenge"),
        };
    }

    /// <summary>A form body within the CSC limit, or null (not a form, too large, malformed).</summary>
    private static async Task<IFormCollection?> FormAsync(HttpContext http)
    {
        if (!http.Request.HasFormContentType)
        {
            return null;
        }

        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        try
        {
            return await http.Request.ReadFormAsync(http.RequestAborted);
        }
        catch (Exception e) when (e is InvalidDataException or BadHttpRequestException or IOException)
        {
            return null;
        }
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
            if (await FormAsync(http) is not { } form)
            {
                status = await OAuthErrorAsync(http, 400, "invalid_request", "the token request is an application/x-www-form-urlencoded body of at most 256 kB");
                return;
            }

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

            await WriteJsonAsync(http, status, new JsonObject
            {
                ["access_token"] = CscSad.Encode(approval.Id, approval.Sad),
                ["token_type"] = "Bearer",
                ["expires_in"] = (long)Math.Max(1, (approval.ExpiresAt - DateTimeOffset.UtcNow).TotalSeconds),
                ["scope"] = "credential",
                ["credentialID"] = approval.CredentialId,
            }, http.RequestAborted);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            status = 499;
        }
        catch (Exception e)
        {
            status = await FailAsync(http, "oauth2", e);
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

    private static Task<int> OAuthErrorAsync(HttpContext http, int status, string error, string description) =>
        WriteJsonAsync(http, status, new JsonObject { ["error"] = error, ["error_description"] = description }, CancellationToken.None);

}
