using DTrust.Store;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Infrastructure;

namespace DTrust.SigningServer.Callers;

/// <summary>
/// The roles that may call an endpoint (a gRPC method, a REST route), as <c>[Authorize(Roles = …)]</c> over the
/// caller scheme, plus the per-caller rate. An endpoint that names no role is refused to everyone by the fallback
/// policy (<see cref="CallerAccess.AddCallerAccess"/>): forgetting the attribute closes an endpoint, never opens it.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class)]
public sealed class AllowRolesAttribute : AuthorizeAttribute, IAuthorizationRequirementData
{
    public AllowRolesAttribute(params CallerRole[] roles)
    {
        AllowedRoles = roles;
        Roles = string.Join(',', roles.Select(CallerRoles.Name));
        AuthenticationSchemes = CallerAuthenticationHandler.SchemeName;
    }

    public IReadOnlyList<CallerRole> AllowedRoles { get; }

    public IEnumerable<IAuthorizationRequirement> GetRequirements() => [CallerRateRequirement.Instance];
}

/// <summary>At most <see cref="Hosting.GrpcLimits.CallsPerSecondPerCaller"/> calls a second per caller.</summary>
public sealed class CallerRateRequirement : IAuthorizationRequirement
{
    public static readonly CallerRateRequirement Instance = new();

    private CallerRateRequirement()
    {
    }
}

/// <summary>
/// Takes a token of the caller's bucket, once the roles have passed: a call refused for its role costs no token.
/// </summary>
internal sealed class CallerRateHandler(CallerRateLimits limits) : AuthorizationHandler<CallerRateRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, CallerRateRequirement requirement)
    {
        // A class and a method attribute both carry the requirement: one token per call, not one per copy.
        if (!context.PendingRequirements.Contains(requirement))
        {
            return Task.CompletedTask;
        }

        var rolesPending = context.PendingRequirements.Any(r => r is RolesAuthorizationRequirement);
        if (!rolesPending && context.Resource is HttpContext http && http.CallerOrNull() is { } caller)
        {
            if (limits.TryTake(caller.Id))
            {
                context.Succeed(requirement);
            }
            else
            {
                context.Fail(new AuthorizationFailureReason(this, "too many calls from this caller; slow down"));
            }
        }

        return Task.CompletedTask;
    }
}

/// <summary>Refuses every caller: the fallback of endpoints that name no role.</summary>
internal sealed class NoRoleNamedRequirement : IAuthorizationRequirement, IAuthorizationHandler
{
    public Task HandleAsync(AuthorizationHandlerContext context)
    {
        if (context.PendingRequirements.Contains(this))
        {
            context.Fail(new AuthorizationFailureReason(this, "this method names no role: nobody may call it"));
        }

        return Task.CompletedTask;
    }
}

public static class CallerAccess
{
    /// <summary>
    /// The caller scheme, role policies with the per-caller rate, the refusing fallback, and refusals answered in
    /// the request's own transport (<see cref="Api.EdgeRefusals"/>). The app calls <c>UseAuthorization</c> after
    /// routing; there is no <c>UseAuthentication</c>: only endpoints that name roles authenticate.
    /// </summary>
    public static IServiceCollection AddCallerAccess(this IServiceCollection services)
    {
        // No default scheme (a single scheme would become one): the authentication middleware the host adds by
        // itself must not look callers up for every request, the anonymous public listener's included.
        AppContext.SetSwitch("Microsoft.AspNetCore.Authentication.SuppressAutoDefaultScheme", true);
        services.AddAuthentication().AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, CallerAuthenticationHandler>(
            CallerAuthenticationHandler.SchemeName, _ => { });
        services.AddAuthorization(o =>
        {
            o.InvokeHandlersAfterFailure = false;
            o.FallbackPolicy = new AuthorizationPolicyBuilder(CallerAuthenticationHandler.SchemeName)
                .AddRequirements(new NoRoleNamedRequirement()).Build();
        });
        services.AddSingleton<IAuthorizationHandler, CallerRateHandler>();
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, Api.EdgeRefusals>();
        return services;
    }
}
