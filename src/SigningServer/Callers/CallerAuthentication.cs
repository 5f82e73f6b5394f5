using System.Security.Claims;
using System.Text.Encodings.Web;
using DTrust.Store;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.Extensions.Options;

namespace DTrust.SigningServer.Callers;

/// <summary>
/// The one authentication of every front end: an API key (<c>Authorization: Bearer …</c>) or a TLS client
/// certificate registered to a caller in the <see cref="CallerDirectory"/>. Only endpoints that name roles
/// (<see cref="AllowRolesAttribute"/>) run it: the anonymous ones (TSA, CRL, OCSP, health) never reach the directory,
/// whatever header a client sends them.
/// </summary>
public sealed class CallerAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, CallerDirectory callers)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "DTrustCaller";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        // Authorization authenticates with the fallback policy's scheme even on anonymous endpoints, before it
        // skips them, and on paths that match no endpoint: answer those without a lookup, so a public URL (or a
        // made-up one) never reaches the directory and never tells a valid key from an invalid one.
        if (Context.GetEndpoint() is not { } endpoint || endpoint.Metadata.GetMetadata<IAllowAnonymous>() is not null)
        {
            return AuthenticateResult.NoResult();
        }

        var authorization = Request.Headers.Authorization.Count > 0 ? Request.Headers.Authorization.ToString() : null;
        var certificate = Context.Connection.ClientCertificate;
        if (authorization is null && certificate is null)
        {
            return AuthenticateResult.NoResult();
        }

        CallerRecord? caller;
        try
        {
            caller = await callers.AuthenticateAsync(authorization, certificate, Context.RequestAborted);
        }
        catch (DTrustException e) when (e.IsTransient)
        {
            // The store is down: not an unknown caller (which would be UNAUTHENTICATED and not retried) but an
            // outage the refusal names as such (UNAVAILABLE), so that clients retry and nothing answers 500.
            Context.Features.Set(new CallerLookupUnavailable(e.Message));
            return AuthenticateResult.Fail(e.Message);
        }

        if (caller is null)
        {
            return AuthenticateResult.Fail("unknown or revoked caller");
        }

        Context.Features.Set(new CallerFeature(caller));
        var identity = new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, caller.Id), new Claim(ClaimTypes.Role, CallerRoles.Name(caller.Role))], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }
}

/// <summary>The caller could not be looked up (the store is unavailable): the request is refused as UNAVAILABLE.</summary>
public sealed record CallerLookupUnavailable(string Reason);

/// <summary>The authenticated caller of a request, placed by <see cref="CallerAuthenticationHandler"/>.</summary>
public sealed record CallerFeature(CallerRecord Caller);

public static class CallerRoles
{
    /// <summary>The role as a claim and in <c>Roles</c> lists: <c>operator</c>, <c>partner</c>.</summary>
    public static string Name(CallerRole role) => role.ToString().ToLowerInvariant();

    /// <summary>The caller of this request; only endpoints behind <see cref="AllowRolesAttribute"/> call it.</summary>
    public static CallerRecord Caller(this HttpContext http) =>
        http.Features.Get<CallerFeature>()?.Caller ?? throw new InvalidOperationException("no authenticated caller on this request");

    /// <summary>The caller if this request was authenticated, for error messages.</summary>
    public static CallerRecord? CallerOrNull(this HttpContext http) => http.Features.Get<CallerFeature>()?.Caller;
}
