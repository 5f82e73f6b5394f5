using System.Threading.RateLimiting;
using DTrust.SigningServer.Errors;
using DTrust.SigningServer.Hosting;
using DTrust.Store;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace DTrust.SigningServer.Callers;

/// <summary>
/// Every RPC except health, reflection and the TSA needs a caller: an API key (<c>authorization: Bearer …</c>) or a
/// TLS client certificate registered to a caller. No or an unknown or revoked credential → UNAUTHENTICATED; a role
/// the method does not allow → PERMISSION_DENIED; more than <see cref="GrpcLimits.CallsPerSecondPerCaller"/> calls a
/// second → RESOURCE_EXHAUSTED. Runs inside the error interceptor, so its refusals are mapped there.
/// </summary>
internal sealed class CallerAuthInterceptor(CallerDirectory callers, CallerRateLimits limits) : Interceptor
{
    /// <summary>Services anyone may call; everything else needs a caller (fail closed for services added later).</summary>
    private static readonly HashSet<string> AnonymousServices = new(StringComparer.Ordinal)
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
        "dtrust.tsa.v1.TimestampService",
    };

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        await AuthenticateAsync(context);
        return await continuation(request, context);
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(
        TRequest request, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await AuthenticateAsync(context);
        await continuation(request, responseStream, context);
    }

    // The two client-sending kinds too: without them a client- or bidi-streaming method added later would run with
    // no caller check at all (Interceptor's defaults just call through).
    public override async Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, ServerCallContext context,
        ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await AuthenticateAsync(context);
        return await continuation(requestStream, context);
    }

    public override async Task DuplexStreamingServerHandler<TRequest, TResponse>(
        IAsyncStreamReader<TRequest> requestStream, IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        await AuthenticateAsync(context);
        await continuation(requestStream, responseStream, context);
    }

    private async Task AuthenticateAsync(ServerCallContext context)
    {
        if (AnonymousServices.Contains(ServiceName(context.Method)))
        {
            return;
        }

        var http = context.GetHttpContext();
        var caller = await callers.AuthenticateAsync(
            context.RequestHeaders.GetValue("authorization"), http.Connection.ClientCertificate, context.CancellationToken)
            ?? throw new DTrustException(ErrorKind.Unauthenticated, "a valid API key or client certificate is required");

        var allowed = http.GetEndpoint()?.Metadata.GetMetadata<AllowRolesAttribute>()?.Roles ?? [CallerRole.Operator];
        if (!allowed.Contains(caller.Role))
        {
            throw new DTrustException(ErrorKind.PermissionDenied, $"the {caller.Role.ToString().ToLowerInvariant()} role may not call this method");
        }

        if (!limits.TryTake(caller.Id))
        {
            throw new DTrustException(ErrorKind.ResourceExhausted, "too many calls from this caller; slow down");
        }

        context.SetCaller(caller);
    }

    /// <summary>"/pkg.Service/Method" → "pkg.Service".</summary>
    private static string ServiceName(string method)
    {
        var slash = method.IndexOf('/', 1);
        return slash > 1 ? method[1..slash] : method;
    }
}

/// <summary>
/// One token bucket per caller (its id), refilled every second: a caller's calls beyond the rate are refused at
/// once, never queued. Per node: behind a load balancer of N nodes a caller gets up to N times the rate.
/// </summary>
internal sealed class CallerRateLimits(ServerOptions options) : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter = PartitionedRateLimiter.Create<string, string>(id =>
        RateLimitPartition.GetTokenBucketLimiter(id, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = Math.Max(1, options.Grpc.CallsPerSecondPerCaller),
            TokensPerPeriod = Math.Max(1, options.Grpc.CallsPerSecondPerCaller),
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));

    public bool TryTake(string callerId)
    {
        using var lease = _limiter.AttemptAcquire(callerId);
        return lease.IsAcquired;
    }

    public void Dispose() => _limiter.Dispose();
}
