namespace DTrust.SigningServer.Hosting;

/// <summary>Endpoint metadata: a local port an endpoint is served on (one per listener it is named on).</summary>
internal sealed record ListenerPort(string Name, int Port);

/// <summary>
/// Tells the listeners apart by the local port a connection arrived on. Routing by the Host or :authority header
/// would let the client choose: a gRPC call sent to the HTTP port, or /tsa asked on the gRPC port, must not be
/// served just because the client wrote the other port into the header.
/// </summary>
internal static class ListenerRouting
{
    public static TBuilder OnListener<TBuilder>(this TBuilder builder, ListenerPort listener)
        where TBuilder : IEndpointConventionBuilder => builder.WithMetadata(listener);

    /// <summary>
    /// After routing: an endpoint is served only on its listener's port. Endpoints without the metadata are the
    /// gRPC framework's own (unimplemented service or method), so they belong to the gRPC port.
    /// </summary>
    public static IApplicationBuilder UseListenerSeparation(this IApplicationBuilder app, int grpcPort) =>
        app.Use((context, next) =>
        {
            if (context.GetEndpoint() is { } endpoint)
            {
                // An endpoint may be named on several listeners (CSC's OAuth endpoints: the API and the holder's origin).
                var ports = endpoint.Metadata.GetOrderedMetadata<ListenerPort>();
                var local = context.Connection.LocalPort;
                if (ports.Count == 0 ? local != grpcPort : !ports.Any(p => p.Port == local))
                {
                    context.SetEndpoint(null);
                    context.Response.StatusCode = StatusCodes.Status404NotFound;
                    return Task.CompletedTask;
                }
            }

            return next(context);
        });
}
