using System.Diagnostics;
using DTrust.SigningServer.Api.Grpc;
using DTrust.SigningServer.Api.Http;
using DTrust.SigningServer.Callers;
using DTrust.SigningServer.Hosting;
using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;

namespace DTrust.SigningServer.Api;

/// <summary>
/// Answers a call that authorization turned away before any front end ran, in the call's own transport: a gRPC
/// status for gRPC, the JSON error body for REST. Which refusal it is comes from what failed: no or an unknown
/// caller → unauthenticated; the per-caller rate → resource exhausted; a role, or an endpoint naming none →
/// permission denied; the caller directory down → unavailable.
/// </summary>
internal sealed class EdgeRefusals : IAuthorizationMiddlewareResultHandler
{
    public Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Succeeded)
        {
            return next(context);
        }

        // No endpoint matched: the fallback policy ran, but there is nothing to refuse access to.
        if (context.GetEndpoint() is null)
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        var (kind, message) = Refusal(context, authorizeResult);
        if (GrpcErrors.IsGrpc(context.Request))
        {
            if (context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>() is { } method)
            {
                ServerMetrics.ObserveRpc(method.Method.FullName, GrpcErrors.Code(kind), Stopwatch.GetTimestamp());
            }

            return GrpcErrors.WriteRefusalAsync(context, kind, message);
        }

        return HttpErrors.WriteAsync(context, kind, message);
    }

    private static (ErrorKind Kind, string Message) Refusal(HttpContext context, PolicyAuthorizationResult result)
    {
        if (context.Features.Get<CallerLookupUnavailable>() is not null)
        {
            return (ErrorKind.Unavailable, "the caller directory is unavailable; retry");
        }

        var caller = context.CallerOrNull();
        if (result.Challenged || caller is null)
        {
            return (ErrorKind.Unauthenticated, "a valid API key or client certificate is required");
        }

        var reasons = result.AuthorizationFailure?.FailureReasons ?? [];
        if (reasons.Any(r => r.Handler is CallerRateHandler))
        {
            return (ErrorKind.ResourceExhausted, reasons.First(r => r.Handler is CallerRateHandler).Message);
        }

        return reasons.FirstOrDefault(r => r.Handler is NoRoleNamedRequirement) is { } unnamed
            ? (ErrorKind.PermissionDenied, unnamed.Message)
            : (ErrorKind.PermissionDenied, $"the {CallerRoles.Name(caller.Role)} role may not call this method");
    }
}
