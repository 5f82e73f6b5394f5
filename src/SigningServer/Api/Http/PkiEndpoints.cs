using DTrust.Pki;
using DTrust.SigningServer.Hosting;
using DTrust.Store;
using Microsoft.AspNetCore.Http.Features;

namespace DTrust.SigningServer.Api.Http;

/// <summary>
/// What relying parties fetch over plain HTTP, at the URLs written into every certificate: CRLs
/// (RFC 5280 §4.2.1.13), CA certificates (caIssuers, §4.2.2.1) and OCSP (RFC 6960 Appendix A), each under the
/// public rate limit (<see cref="PublicRateLimit"/>).
/// </summary>
internal static class PkiEndpoints
{
    public const string CrlMediaType = "application/pkix-crl";
    public const string CertificateMediaType = "application/pkix-cert";

    /// <summary>The latest signed checkpoint of the audit chain, for anyone to keep (and to hold us to).</summary>
    public static void MapAuditEndpoints(this IEndpointRouteBuilder app, ListenerPort listener) =>
        app.MapGet("/audit/checkpoint", (DTrust.SigningServer.Credentials.AuditCheckpoints checkpoints) =>
            checkpoints.Latest is { } note ? Results.Text(note, "text/plain; charset=utf-8") : Results.NotFound())
            .OnListener(listener).WithPublicRateLimit().AllowAnonymous();

    public static void MapPkiEndpoints(this IEndpointRouteBuilder app, ListenerPort listener)
    {
        app.MapGet("/crl/{level}.crl", async (string level, CrlPublisher crls, RootCrl root, HttpContext http) =>
            PkiLevels.TryParse(level, out var l) ? Results.Bytes(await crls.GetCurrentAsync(l, http.RequestAborted), CrlMediaType)
            : level == "root" && root.Current() is { } rootList ? Results.Bytes(rootList, CrlMediaType)
            : Results.NotFound()).OnListener(listener).WithPublicRateLimit().AllowAnonymous();

        app.MapGet("/pki/ca-{level}.cer", (string level, IssuingCas cas) =>
            PkiLevels.TryParse(level, out var l)
                ? Results.Bytes(cas[l].Certificate.RawData, CertificateMediaType)
                : Results.NotFound()).OnListener(listener).WithPublicRateLimit().AllowAnonymous();

        app.MapPost("/ocsp", async (HttpContext http, OcspResponder ocsp) =>
        {
            if (!string.Equals(http.Request.ContentType?.Split(';')[0].Trim(), OcspResponder.RequestMediaType, StringComparison.OrdinalIgnoreCase))
            {
                return Results.StatusCode(StatusCodes.Status415UnsupportedMediaType);
            }

            // An oversized body is answered like any other malformed request: an OCSPResponse, not an HTTP error.
            var body = await ReadBoundedAsync(http.Request.Body, http.RequestAborted);
            return Results.Bytes(await ocsp.RespondAsync(body, http.RequestAborted), OcspResponder.ResponseMediaType);
        }).OnListener(listener).WithPublicRateLimit().AllowAnonymous();

        // RFC 6960 Appendix A.1: GET {url}/{url-encoding of base64 of the DER request}. The raw target is read
        // because the decoded path keeps "%2F" escaped while turning "%2B" into "+", and base64 has both.
        app.MapGet("/ocsp/{**request}", async (HttpContext http, OcspResponder ocsp) =>
        {
            var raw = http.Features.Get<IHttpRequestFeature>()?.RawTarget ?? "";
            var start = raw.IndexOf("/ocsp/", StringComparison.Ordinal) + "/ocsp/".Length;
            var end = raw.IndexOf('?', start);
            var encoded = Uri.UnescapeDataString(end < 0 ? raw[start..] : raw[start..end]);
            return Results.Bytes(await ocsp.RespondAsync(DecodeBase64(encoded), http.RequestAborted), OcspResponder.ResponseMediaType);
        }).OnListener(listener).WithPublicRateLimit().AllowAnonymous();
    }

    /// <summary>Standard or URL-safe base64, padded or not; anything else becomes an empty (malformed) request.</summary>
    private static byte[] DecodeBase64(string text)
    {
        var normal = text.Replace('-', '+').Replace('_', '/');
        normal = normal.PadRight(normal.Length + ((4 - (normal.Length % 4)) % 4), '=');
        var buffer = new byte[normal.Length * 3 / 4];
        return Convert.TryFromBase64String(normal, buffer, out var written) ? buffer[..written] : [];
    }

    /// <summary>At most one byte more than <see cref="OcspResponder.MaxRequestBytes"/>: enough to tell "too large".</summary>
    private static async Task<ReadOnlyMemory<byte>> ReadBoundedAsync(Stream body, CancellationToken ct)
    {
        var buffer = new byte[OcspResponder.MaxRequestBytes + 1];
        var total = 0;
        int read;
        while (total < buffer.Length && (read = await body.ReadAsync(buffer.AsMemory(total), ct)) > 0)
        {
            total += read;
        }

        return buffer.AsMemory(0, total);
    }
}
