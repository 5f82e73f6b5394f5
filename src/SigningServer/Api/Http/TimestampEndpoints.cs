using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Timestamping;

namespace DTrust.SigningServer.Api.Http;

/// <summary>The TSA over RFC 3161 §3.4 HTTP: <c>POST /tsa</c> on the HTTP listener.</summary>
internal static class TimestampEndpoints
{
    public const string QueryMediaType = "application/timestamp-query";
    public const string ReplyMediaType = "application/timestamp-reply";

    /// <summary>A TimeStampReq is a few hundred bytes; anything far larger is not one.</summary>
    public const int MaxQueryBytes = 64 * 1024;

    public static void MapHttpTsa(this IEndpointRouteBuilder app, ListenerPort listener)
    {
        app.MapPost("/tsa", async (HttpContext http, TsaResponder tsa) =>
        {
            if (!string.Equals(http.Request.ContentType?.Split(';')[0].Trim(), QueryMediaType, StringComparison.OrdinalIgnoreCase))
            {
                return Results.StatusCode(StatusCodes.Status415UnsupportedMediaType);
            }

            if (http.Request.ContentLength > MaxQueryBytes)
            {
                return Results.StatusCode(StatusCodes.Status413PayloadTooLarge);
            }

            if (await ReadBoundedAsync(http.Request.Body, http.Request.ContentLength, http.RequestAborted) is not { } query)
            {
                return Results.StatusCode(StatusCodes.Status413PayloadTooLarge);
            }

            // Refusals are TimeStampResp structures too (status rejection), so the HTTP status stays 200.
            var result = await tsa.RespondAsync(query, http.RequestAborted);
            return Results.Bytes(result.Response, ReplyMediaType);
        }).OnListener(listener).WithPublicRateLimit().AllowAnonymous();
    }

    /// <summary>
    /// Reads at most <see cref="MaxQueryBytes"/>; null when the body is larger. A declared length sizes the buffer
    /// (the usual case: queries are a few hundred bytes); a chunked body grows it. The bytes read are returned as a
    /// slice of the buffer, never copied.
    /// </summary>
    private static async Task<ReadOnlyMemory<byte>?> ReadBoundedAsync(Stream body, long? declaredLength, CancellationToken ct)
    {
        var buffer = new byte[declaredLength is { } n ? n + 1 : 1024];
        var total = 0;
        int read;
        while ((read = await body.ReadAsync(buffer.AsMemory(total), ct)) > 0)
        {
            total += read;
            if (total > MaxQueryBytes)
            {
                return null;
            }

            if (total == buffer.Length)
            {
                Array.Resize(ref buffer, Math.Min(buffer.Length * 2, MaxQueryBytes + 1));
            }
        }

        return buffer.AsMemory(0, total);
    }
}
