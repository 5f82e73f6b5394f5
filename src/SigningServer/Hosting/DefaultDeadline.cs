using System.Globalization;

namespace DTrust.SigningServer.Hosting;

/// <summary>
/// A gRPC call without a deadline gets the server's, and one with a longer deadline than the server allows gets the
/// cap: the <c>grpc-timeout</c> header is set before the call starts, so Grpc.AspNetCore enforces it with its own
/// machinery (DEADLINE_EXCEEDED, the handler's token cancelled). A client that never sets a deadline, or sets one of
/// days, must not hold an HSM session or a connection slot that long.
/// </summary>
internal static class DefaultDeadline
{
    private const string TimeoutHeader = "grpc-timeout";

    public static IApplicationBuilder UseDefaultGrpcDeadline(this IApplicationBuilder app, TimeSpan limit, TimeSpan max)
    {
        var value = Header(limit);
        var cap = Header(max);
        return app.Use((context, next) =>
        {
            var request = context.Request;
            if (request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
            {
                if (!request.Headers.TryGetValue(TimeoutHeader, out var asked))
                {
                    request.Headers[TimeoutHeader] = value;
                }
                else if (Parse(asked.ToString()) is not { } timeout || timeout > max)
                {
                    // Unparsable is capped too: Grpc.AspNetCore would ignore it and run without any deadline.
                    request.Headers[TimeoutHeader] = cap;
                }
            }

            return next(context);
        });
    }

    private static string Header(TimeSpan t) => ((long)t.TotalSeconds).ToString(CultureInfo.InvariantCulture) + "S";

    /// <summary>The gRPC wire format: at most eight digits and a unit (H, M, S, m, u, n); null if it is not that.</summary>
    internal static TimeSpan? Parse(string value)
    {
        if (value.Length is < 2 or > 9 || !long.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return null;
        }

        return value[^1] switch
        {
            'H' => TimeSpan.FromHours(n),
            'M' => TimeSpan.FromMinutes(n),
            'S' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMilliseconds(n),
            'u' => TimeSpan.FromMicroseconds(n),
            'n' => TimeSpan.FromTicks(n / 100),
            _ => null,
        };
    }
}
