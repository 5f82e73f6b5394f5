using DTrust.Rpc;
using DTrust.Rpc.Server;
using DTrust.Tsa;
using DTrust.Tsa.V1;

namespace DTrust.SigningServer.Timestamping;

/// <summary>The TSA as a service: gRPC <c>dtrust.tsa.v1.TimestampService</c> and RFC 3161 §3.4 HTTP <c>POST /tsa</c>.</summary>
internal static class TimestampEndpoints
{
    public const string QueryMediaType = "application/timestamp-query";
    public const string ReplyMediaType = "application/timestamp-reply";

    /// <summary>A TimeStampReq is a few hundred bytes; anything far larger is not one.</summary>
    public const int MaxQueryBytes = 64 * 1024;

    public static readonly RpcMethod<TimestampRequest, TimestampResponse> TimestampMethod =
        new(MethodType.Unary, "dtrust.tsa.v1.TimestampService", "Timestamp", TimestampRequest.Parser, TimestampResponse.Parser);

    public static GrpcServiceDefinition GrpcService(TimeStampAuthority tsa) =>
        GrpcServiceDefinition.CreateBuilder()
            .AddUnary(TimestampMethod, (request, _) =>
            {
                if (request.DerRequest.IsEmpty)
                {
                    throw new RpcException(StatusCode.InvalidArgument, "der_request is empty: send a DER TimeStampReq");
                }

                var result = tsa.Respond(request.DerRequest.Span);
                return Task.FromResult(new TimestampResponse { DerResponse = Google.Protobuf.ByteString.CopyFrom(result.Response) });
            })
            .Build();

    public static void MapHttpTsa(this IEndpointRouteBuilder app, string requireHost)
    {
        app.MapPost("/tsa", async (HttpContext http, TimeStampAuthority tsa) =>
        {
            if (!string.Equals(http.Request.ContentType?.Split(';')[0].Trim(), QueryMediaType, StringComparison.OrdinalIgnoreCase))
            {
                return Results.StatusCode(StatusCodes.Status415UnsupportedMediaType);
            }

            if (http.Request.ContentLength > MaxQueryBytes)
            {
                return Results.StatusCode(StatusCodes.Status413PayloadTooLarge);
            }

            var query = await ReadBoundedAsync(http.Request.Body, http.RequestAborted);
            if (query is null)
            {
                return Results.StatusCode(StatusCodes.Status413PayloadTooLarge);
            }

            // Refusals are TimeStampResp structures too (status rejection), so the HTTP status stays 200.
            var result = tsa.Respond(query);
            return Results.Bytes(result.Response, ReplyMediaType);
        }).RequireHost(requireHost);
    }

    /// <summary>Reads at most <see cref="MaxQueryBytes"/>; null when the body is larger (chunked bodies carry no length).</summary>
    private static async Task<byte[]?> ReadBoundedAsync(Stream body, CancellationToken ct)
    {
        var buffer = new byte[MaxQueryBytes + 1];
        var total = 0;
        int read;
        while ((read = await body.ReadAsync(buffer.AsMemory(total), ct)) > 0)
        {
            total += read;
            if (total > MaxQueryBytes)
            {
                return null;
            }
        }

        return buffer[..total];
    }
}
