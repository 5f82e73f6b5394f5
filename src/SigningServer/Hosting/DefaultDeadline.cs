using System.Globalization;

namespace DTrust.SigningServer.Hosting;

/// <summary>
/// A gRPC call without a deadline gets the server's: the <c>grpc-timeout</c> header is added before the call
/// starts, so Grpc.AspNetCore enforces it with its own machinery (DEADLINE_EXCEEDED, the handler's token
/// cancelled). A client that never sets a deadline must not hold an HSM session or a connection slot forever.
/// </summary>
internal static class DefaultDeadline
{
    private const string TimeoutHeader = "grpc-timeout";

    public static IApplicationBuilder UseDefaultGrpcDeadline(this IApplicationBuilder app, TimeSpan limit)
    {
        var value = ((long)limit.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "S";
        return app.Use((context, next) =>
        {
            var request = context.Request;
            if (request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true
                && !request.Headers.ContainsKey(TimeoutHeader))
            {
                request.Headers[TimeoutHeader] = value;
            }

            return next(context);
        });
    }
}
