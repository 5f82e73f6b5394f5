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
        kestrel.Listen(ParseEndpoint(listen.Grpc), o =>
        {
            // Cleartext HTTP/2 needs Http2 alone: with Http1AndHttp2 and no TLS, Kestrel speaks only HTTP/1.1.
            o.Protocols = HttpProtocols.Http2;
            if (!string.IsNullOrEmpty(listen.TlsCertificatePath))
            {
                o.UseHttps(X509Certificate2.CreateFromPemFile(listen.TlsCertificatePath, listen.TlsKeyPath));
            }
        });
        kestrel.Listen(ParseEndpoint(listen.Http), o => o.Protocols = HttpProtocols.Http1AndHttp2);
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
