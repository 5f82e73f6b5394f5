using System.Net;
using DTrust.Client;
using Grpc.Health.V1;

namespace DTrust.Server.Tests;

/// <summary>
/// Hand-made HTTP/2 requests to the server: bodies, headers and framing no well-behaved gRPC client sends. Cleartext
/// HTTP/2 by prior knowledge (h2c) unless the address is https.
/// </summary>
public sealed class RawGrpc : IDisposable
{
    public const string TimestampPath = "/dtrust.tsa.v1.TimestampService/Timestamp";
    public const string SignHashPath = "/dtrust.signing.v1.SigningService/SignHash";
    public const string HealthPath = "/grpc.health.v1.Health/Check";

    private readonly HttpClient _http;

    /// <param name="pinnedCertificate">For https: the one server certificate (DER) trusted.</param>
    public RawGrpc(byte[]? pinnedCertificate = null)
    {
        var handler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true, UseProxy = false };
        if (pinnedCertificate is not null)
        {
            handler.SslOptions.RemoteCertificateValidationCallback =
                (_, cert, _, _) => cert is not null && cert.GetRawCertData().AsSpan().SequenceEqual(pinnedCertificate);
        }

        _http = new HttpClient(handler);
    }

    public void Dispose() => _http.Dispose();

    /// <summary>A gRPC length-prefixed message: flag, 4-byte big-endian length, payload.</summary>
    public static byte[] Frame(byte[] payload, byte flag = 0) =>
        [flag, (byte)(payload.Length >> 24), (byte)(payload.Length >> 16), (byte)(payload.Length >> 8), (byte)payload.Length, .. payload];

    /// <summary>A TimestampRequest whose der_request (field 1) is <paramref name="der"/>; a one-byte length, so short.</summary>
    public static byte[] TimestampRequest(byte[] der) => der.Length < 128
        ? [0x0A, (byte)der.Length, .. der]
        : throw new ArgumentException("keep it under 128 bytes", nameof(der));

    public static HttpRequestMessage Request(
        Uri address, string path, HttpContent content, string? contentType = "application/grpc", Version? version = null)
    {
        if (contentType is not null)
        {
            content.Headers.TryAddWithoutValidation("content-type", contentType);
        }

        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(address, path))
        {
            Version = version ?? HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        request.Headers.TryAddWithoutValidation("te", "trailers");
        return request;
    }

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken ct) =>
        _http.SendAsync(request, completion, ct);

    /// <summary>Sends and reads the whole answer; the gRPC status comes from the headers (Trailers-Only) or the trailers.</summary>
    public async Task<RawAnswer> SendAsync(HttpRequestMessage request)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        using var response = await _http.SendAsync(request, cts.Token);
        var body = await response.Content.ReadAsByteArrayAsync(cts.Token);
        return new RawAnswer(response.StatusCode, response.Version, body, Header(response, "grpc-status"), Header(response, "grpc-message"));
    }

    public Task<RawAnswer> PostAsync(
        Uri address, string path, byte[] body, string? contentType = "application/grpc", (string Name, string Value)[]? headers = null)
    {
        var request = Request(address, path, new ByteArrayContent(body), contentType);
        foreach (var (name, value) in headers ?? [])
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        return SendAsync(request);
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var h) ? h.Single()
        : response.TrailingHeaders.TryGetValues(name, out var t) ? t.Single() : null;

    /// <summary>The server still answers a well-formed call on a fresh connection: it did not crash or wedge.</summary>
    public static async Task AssertServingAsync(Uri grpcAddress)
    {
        using var client = DTrustClient.Connect(grpcAddress);
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await client.CheckHealthAsync());
    }

    /// <summary>Sends <paramref name="first"/>, then holds the body open until <paramref name="release"/> completes or the call is cancelled.</summary>
    public sealed class PartialContent(byte[] first, Task release) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
        {
            await stream.WriteAsync(first, cancellationToken);
            await stream.FlushAsync(cancellationToken);
            await release.WaitAsync(cancellationToken);
        }

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            SerializeToStreamAsync(stream, context, CancellationToken.None);

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}

public sealed record RawAnswer(HttpStatusCode Status, Version Version, byte[] Body, string? GrpcStatus, string? GrpcMessage)
{
    public override string ToString() => $"HTTP {(int)Status} (HTTP/{Version}), grpc-status {GrpcStatus ?? "none"}, grpc-message {GrpcMessage ?? "none"}, {Body.Length} body bytes";
}
