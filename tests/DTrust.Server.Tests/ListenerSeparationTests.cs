using System.Globalization;
using System.Net;
using DTrust.Client;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace DTrust.Server.Tests;

/// <summary>
/// The gRPC and HTTP listeners are told apart by the local port a connection arrived on, never by what the client
/// writes into Host or :authority. In clear the HTTP listener speaks only HTTP/1.1, so a gRPC call there could not
/// be served anyway; the decisive cases use HTTP/1.1 (which both ports' routing sees) and, in the TLS collection,
/// HTTP/2 on an HTTP listener that offers it.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed class ListenerSeparationTests(ServerFixture fixture) : IDisposable
{
    private readonly RawGrpc _raw = new();

    public void Dispose() => _raw.Dispose();

    private static ByteArrayContent TsaQuery()
    {
        var query = System.Security.Cryptography.Pkcs.Rfc3161TimestampRequest
            .CreateFromData("separation"u8, System.Security.Cryptography.HashAlgorithmName.SHA256).Encode();
        var content = new ByteArrayContent(query);
        content.Headers.TryAddWithoutValidation("content-type", "application/timestamp-query");
        return content;
    }

    private static string Authority(int port) => "127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture);

    private async Task<HttpResponseMessage> SendAsync(int port, HttpMethod method, string path, Version version, HttpContent? content = null, string? host = null)
    {
        var request = new HttpRequestMessage(method, new Uri($"http://127.0.0.1:{port}{path}"))
        {
            Version = version,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = content,
        };
        if (host is not null)
        {
            request.Headers.Host = host;
        }

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        return await _raw.SendAsync(request, HttpCompletionOption.ResponseContentRead, cts.Token);
    }

    [Fact]
    public async Task Http_endpoints_answer_on_the_http_port()
    {
        // The control: the same requests as below, on their own port, are served.
        using var healthz = await SendAsync(fixture.Server.HttpPort, HttpMethod.Get, "/healthz", HttpVersion.Version11);
        using var tsa = await SendAsync(fixture.Server.HttpPort, HttpMethod.Post, "/tsa", HttpVersion.Version11, TsaQuery());
        using var metrics = await SendAsync(fixture.Server.AdminPort, HttpMethod.Get, "/metrics", HttpVersion.Version11);

        Assert.Equal(HttpStatusCode.OK, healthz.StatusCode);
        Assert.Equal(HttpStatusCode.OK, tsa.StatusCode);
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        Assert.Equal("application/timestamp-reply", tsa.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("admin port")]
    public async Task Metrics_are_not_served_on_the_public_http_port(string? host)
    {
        // What /metrics reveals (load, dependency latencies, pool use) is for the admin listener's scraper only,
        // whatever the client writes into Host.
        using var response = await SendAsync(
            fixture.Server.HttpPort, HttpMethod.Get, "/metrics", HttpVersion.Version11,
            host: host is null ? null : Authority(fixture.Server.AdminPort));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("GET", "/healthz")]
    [InlineData("POST", "/tsa")]
    [InlineData("POST", "/ocsp")]
    [InlineData("GET", "/crl/simple.crl")]
    public async Task Public_endpoints_are_not_served_on_the_admin_port(string method, string path)
    {
        using var response = await SendAsync(
            fixture.Server.AdminPort, new HttpMethod(method), path, HttpVersion.Version11, method == "POST" ? TsaQuery() : null);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("GET", "/healthz")]
    [InlineData("POST", "/tsa")]
    [InlineData("GET", "/metrics")]
    public async Task Http_endpoints_are_not_served_on_the_grpc_port(string method, string path)
    {
        using var response = await SendAsync(
            fixture.Server.GrpcPort, new HttpMethod(method), path, HttpVersion.Version20, method == "POST" ? TsaQuery() : null);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData("GET", "/healthz")]
    [InlineData("POST", "/tsa")]
    [InlineData("GET", "/metrics")]
    public async Task Host_header_naming_the_http_port_does_not_open_http_endpoints_on_the_grpc_port(string method, string path)
    {
        using var response = await SendAsync(
            fixture.Server.GrpcPort, new HttpMethod(method), path, HttpVersion.Version20, method == "POST" ? TsaQuery() : null,
            host: Authority(fixture.Server.HttpPort));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("grpc port")]
    public async Task Grpc_call_over_http1_on_the_http_port_is_not_served(string? host)
    {
        // Routing matches the gRPC endpoint whatever the port; the separation must answer 404 before Grpc.AspNetCore
        // would (it answers HTTP/1.1 with 426 and a grpc-status).
        using var response = await SendAsync(
            fixture.Server.HttpPort, HttpMethod.Post, RawGrpc.HealthPath, HttpVersion.Version11, GrpcBody(),
            host is null ? null : Authority(fixture.Server.GrpcPort));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.False(response.Headers.Contains("grpc-status"));
    }

    private static ByteArrayContent GrpcBody()
    {
        var content = new ByteArrayContent(RawGrpc.Frame([]));
        content.Headers.TryAddWithoutValidation("content-type", "application/grpc");
        return content;
    }
}

/// <summary>
/// With TLS on both listeners the HTTP listener negotiates HTTP/2 too, so a gRPC call to it is well-formed at every
/// layer: only the port-based separation stops it.
/// </summary>
[Collection(TlsServerGroup.Name)]
public sealed class TlsListenerSeparationTests(TlsServerFixture fixture)
{
    private GrpcChannelOptions Pinned() => new()
    {
        HttpHandler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetRawCertData().AsSpan().SequenceEqual(fixture.Certificate.RawData) },
        },
    };

    [Fact]
    public async Task Grpc_health_over_h2_on_the_http_port_is_not_served()
    {
        using var onGrpcPort = DTrustClient.Connect(new Uri($"https://127.0.0.1:{fixture.Server.GrpcPort}"), Pinned());
        using var onHttpPort = DTrustClient.Connect(fixture.Server.HttpAddress, Pinned());

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await onGrpcPort.CheckHealthAsync());
        var e = await Assert.ThrowsAsync<RpcException>(() => onHttpPort.CheckHealthAsync());

        // A 404 without a grpc-status is reported by Grpc.Net.Client as UNIMPLEMENTED.
        Assert.Equal(StatusCode.Unimplemented, e.StatusCode);
    }

    [Fact]
    public async Task Authority_naming_the_grpc_port_does_not_open_grpc_on_the_http_port()
    {
        using var raw = new RawGrpc(fixture.Certificate.RawData);
        using var request = RawGrpc.Request(fixture.Server.HttpAddress, RawGrpc.HealthPath, new ByteArrayContent(RawGrpc.Frame([])));
        request.Headers.Host = $"127.0.0.1:{fixture.Server.GrpcPort}";
        var answer = await raw.SendAsync(request);

        Assert.True(answer.Version == HttpVersion.Version20 && answer.Status == HttpStatusCode.NotFound && answer.GrpcStatus is null, answer.ToString());
    }

    [Fact]
    public async Task Authority_naming_the_http_port_does_not_open_tsa_on_the_grpc_port()
    {
        using var raw = new RawGrpc(fixture.Certificate.RawData);
        var query = System.Security.Cryptography.Pkcs.Rfc3161TimestampRequest
            .CreateFromData("separation"u8, System.Security.Cryptography.HashAlgorithmName.SHA256).Encode();
        using var request = RawGrpc.Request(
            new Uri($"https://127.0.0.1:{fixture.Server.GrpcPort}"), "/tsa", new ByteArrayContent(query), "application/timestamp-query");
        request.Headers.Host = $"127.0.0.1:{fixture.Server.HttpPort}";
        var answer = await raw.SendAsync(request);

        Assert.True(answer.Status == HttpStatusCode.NotFound, answer.ToString());
    }
}
