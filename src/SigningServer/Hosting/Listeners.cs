using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace DTrust.SigningServer.Hosting;

/// <summary>The two listeners: gRPC (HTTP/2 only) and plain HTTP for /healthz, /tsa and /crl.</summary>
internal static class Listeners
{
    public static void Configure(KestrelServerOptions kestrel, ListenOptions listen)
    {
        kestrel.AddServerHeader = false;
        var certificate = string.IsNullOrEmpty(listen.TlsCertificatePath)
            ? null
            : X509Certificate2.CreateFromPemFile(listen.TlsCertificatePath, listen.TlsKeyPath);
        kestrel.Listen(ParseEndpoint(listen.Grpc), o =>
        {
            // Cleartext HTTP/2 needs Http2 alone: with Http1AndHttp2 and no TLS, Kestrel speaks only HTTP/1.1.
            o.Protocols = HttpProtocols.Http2;
            if (certificate is not null)
            {
                o.UseHttps(certificate);
            }
        });
        kestrel.Listen(ParseEndpoint(listen.Http), o =>
        {
            // In clear Kestrel cannot offer HTTP/1.1 and h2c on one port, so this listener is HTTP/1.1 (what
            // openssl, curl and RFC 3161 clients use); with TLS both are offered through ALPN.
            o.Protocols = HttpProtocols.Http1AndHttp2;
            if (certificate is not null && listen.HttpTls)
            {
                o.UseHttps(certificate);
            }
        });
    }

    public static IPEndPoint ParseEndpoint(string value)
    {
        if (value.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase))
        {
            value = "127.0.0.1:" + value["localhost:".Length..];
        }

        return IPEndPoint.TryParse(value, out var ep) && ep.Port != 0
            ? ep
            : throw new InvalidOperationException($"'{value}' is not an address:port to listen on");
    }

    public static int Port(string value) => ParseEndpoint(value).Port;
}
