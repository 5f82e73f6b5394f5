using DTrust.Rpc.Health;
using DTrust.Rpc.Server;
using DTrust.Rpc.Server.Internal;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection.Extensions;

// The usual home of registration extensions, so hosts find them without another using.
namespace Microsoft.Extensions.DependencyInjection;

public static class GrpcTransportServiceCollectionExtensions
{
    /// <summary>Registers the gRPC transport (dispatcher, options) and the <see cref="HealthService"/>.</summary>
    public static IServiceCollection AddGrpcTransport(
        this IServiceCollection services, Action<GrpcTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddRouting();
        var options = services.AddOptions<GrpcTransportOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.Validate(o => o.MaxReceiveMessageSize > 0 && o.MaxSendMessageSize > 0, "message size limits must be positive");
        services.TryAddSingleton<GrpcDispatcher>();
        services.TryAddSingleton<HealthService>();
        return services;
    }
}

public static class GrpcEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps every method of <paramref name="service"/> as a POST endpoint at its path, and (once) a catch-all that
    /// answers UNIMPLEMENTED to gRPC requests for any other <c>/service/method</c> path.
    /// </summary>
    public static IEndpointConventionBuilder MapGrpcService(this IEndpointRouteBuilder endpoints, GrpcServiceDefinition service)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(service);
        var dispatcher = endpoints.ServiceProvider.GetService<GrpcDispatcher>()
            ?? throw new InvalidOperationException("call services.AddGrpcTransport() before MapGrpcService");
        var builders = new List<IEndpointConventionBuilder>();
        if (!dispatcher.FallbackMapped)
        {
            dispatcher.FallbackMapped = true;

            // /{service}/{method} for services nobody mapped; a mapped service has its own fallback below.
            builders.Add(MapFallback(
                endpoints,
                dispatcher,
                RoutePatternFactory.Segment(RoutePatternFactory.ParameterPart(
                    "service",
                    null,
                    RoutePatternParameterKind.Standard,
                    RoutePatternFactory.ParameterPolicy(new UnregisteredNameConstraint(dispatcher.Services)))),
                UnregisteredNameConstraint.CreateSet()));
        }

        foreach (var method in service.Methods)
        {
            var slash = method.Path.IndexOf('/', 1);
            var serviceName = method.Path[1..slash];
            dispatcher.Services.Add(serviceName);
            if (!dispatcher.MethodsByService.TryGetValue(serviceName, out var methods))
            {
                // /service/{method} for the methods of a mapped service that nobody mapped.
                methods = UnregisteredNameConstraint.CreateSet();
                dispatcher.MethodsByService.Add(serviceName, methods);
                builders.Add(MapFallback(
                    endpoints,
                    dispatcher,
                    RoutePatternFactory.Segment(RoutePatternFactory.LiteralPart(serviceName)),
                    methods));
            }

            methods.Add(method.Path[(slash + 1)..]);
            builders.Add(endpoints.MapPost(method.Path, http => dispatcher.HandleAsync(http, method))
                .WithDisplayName("gRPC " + method.Path));
        }

        return new CompositeConventionBuilder(builders);
    }

    /// <summary>
    /// Maps a POST fallback that answers UNIMPLEMENTED: <paramref name="first"/> then a method segment matching any name
    /// not in <paramref name="methods"/>. Routing knows at build time that it cannot match a mapped path, so calls to
    /// mapped methods have one candidate endpoint and capture no route values.
    /// </summary>
    private static IEndpointConventionBuilder MapFallback(
        IEndpointRouteBuilder endpoints, GrpcDispatcher dispatcher, RoutePatternPathSegment first, HashSet<string> methods)
    {
        var pattern = RoutePatternFactory.Pattern(
            first,
            RoutePatternFactory.Segment(RoutePatternFactory.ParameterPart(
                "method",
                null,
                RoutePatternParameterKind.Standard,
                RoutePatternFactory.ParameterPolicy(new UnregisteredNameConstraint(methods)))));
        var fallback = endpoints.Map(pattern, dispatcher.HandleUnknownAsync)
            .WithMetadata(new HttpMethodMetadata([HttpMethods.Post]));

        // Loses against any route the host maps for the same shape of path.
        fallback.Add(b => ((RouteEndpointBuilder)b).Order = int.MaxValue);
        fallback.WithDisplayName("gRPC unimplemented");
        return fallback;
    }

    /// <summary>Maps <c>grpc.health.v1.Health</c> backed by the registered <see cref="HealthService"/>.</summary>
    public static IEndpointConventionBuilder MapGrpcHealthService(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        return endpoints.MapGrpcService(endpoints.ServiceProvider.GetRequiredService<HealthService>().Definition);
    }
}
