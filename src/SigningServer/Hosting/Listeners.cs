using System.Net;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace DTrust.SigningServer.Hosting;

/// <summary>
/// The listeners: gRPC (HTTP/2 only), public plain HTTP for /healthz, /tsa, /crl and /ocsp, and admin HTTP for
/// /metrics.
/// </summary>
internal static class Listeners
{
    public static void Configure(KestrelServerOptions kestrel, ListenerOptions listen)
    {
        kestrel.AddServerHeader = false;
        kestrel.Limits.MaxConcurrentConnections = listen.MaxConnections;
        kestrel.Limits.Http2.MaxStreamsPerConnection = listen.MaxStreamsPerConnection;
        var certificate = string.IsNullOrEmpty(listen.TlsCertificatePath)
            ? null
            : X509Certificate2.CreateFromPemFile(listen.TlsCertificatePath, listen.TlsKeyPath);
        var grpc = ParseEndpoint(listen.Grpc);
        RefuseCleartextOffLoopback(grpc, certificate is not null, listen.AllowInsecure, "gRPC");
        kestrel.Listen(grpc, o =>
        {
            // Cleartext HTTP/2 needs Http2 alone: with Http1AndHttp2 and no TLS, Kestrel speaks only HTTP/1.1.
            o.Protocols = HttpProtocols.Http2;
            if (certificate is not null)
            {
                o.UseHttps(https =>
                {
                    https.ServerCertificate = certificate;
                    https.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
                    https.ClientCertificateMode = listen.ClientCertificateMode;
                });
            }
        });
        var perAddress = new ConnectionsPerAddress(listen.PublicConnectionsPerAddress);
        kestrel.Listen(ParseEndpoint(listen.Http), o =>
        {
            o.Use(perAddress.Middleware);
            // In clear Kestrel cannot offer HTTP/1.1 and h2c on one port, so this listener is HTTP/1.1 (what
            // openssl, curl and RFC 3161 clients use); with TLS both are offered through ALPN. Saying so avoids
            // Kestrel's start-up warning about HTTP/2 without TLS.
            o.Protocols = certificate is not null && listen.HttpTls ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1;
            if (certificate is not null && listen.HttpTls)
            {
                o.UseHttps(https =>
                {
                    https.ServerCertificate = certificate;
                    https.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
                });
            }
        });
        ListenAdmin(kestrel, listen);

        // The CSC API carries API keys, PINs and codes like gRPC: TLS off loopback, HTTP/1.1 and 2 (ALPN) then.
        var csc = ParseEndpoint(listen.Csc);
        RefuseCleartextOffLoopback(csc, certificate is not null, listen.AllowInsecure, "the CSC API");
        kestrel.Listen(csc, o =>
        {
            o.Protocols = certificate is null ? HttpProtocols.Http1 : HttpProtocols.Http1AndHttp2;
            if (certificate is not null)
            {
                o.UseHttps(https =>
                {
                    https.ServerCertificate = certificate;
                    https.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
                    https.ClientCertificateMode = listen.ClientCertificateMode;
                });
            }
        });

        // The holder's origin: HTTP/1.1 and 2 (browsers), TLS with the same certificate when configured.
        var holder = ParseEndpoint(listen.Holder);
        kestrel.Listen(holder, o =>
        {
            o.Use(perAddress.Middleware);
            o.Protocols = certificate is not null && listen.HttpTls ? HttpProtocols.Http1AndHttp2 : HttpProtocols.Http1;
            if (certificate is not null && listen.HttpTls)
            {
                o.UseHttps(https =>
                {
                    https.ServerCertificate = certificate;
                    https.SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13;
                });
            }
        });
    }

    private static void ListenAdmin(KestrelServerOptions kestrel, ListenerOptions listen) =>
        kestrel.Listen(ParseEndpoint(listen.Admin), o => o.Protocols = HttpProtocols.Http1);

    /// <summary>
    /// Development mode hands out fixed API keys in the state directory, writes clear one-time codes to an outbox
    /// and issues certificates under a root no one audited: it must never be reachable from another machine, so every
    /// listener of a development server must be on loopback (TLS or AllowInsecure change nothing about that).
    /// </summary>
    internal static void RefuseDevelopmentOffLoopback(ListenerOptions listen)
    {
        foreach (var (name, address) in new[] { ("Grpc", listen.Grpc), ("Http", listen.Http), ("Admin", listen.Admin), ("Holder", listen.Holder), ("Csc", listen.Csc) })
        {
            var endpoint = ParseEndpoint(address);
            if (!IPAddress.IsLoopback(endpoint.Address))
            {
                throw new InvalidOperationException(
                    $"refusing to start in development mode with DTrust:Listen:{name} on the non-loopback address {endpoint}: " +
                    "development API keys, clear one-time codes and the development PKI stay on this machine; " +
                    "listen on 127.0.0.1 or run in production mode (DTrust:Development=false)");
            }
        }
    }

    /// <summary>
    /// API keys, PINs and OTPs travel in gRPC calls: a listener reachable from other machines must speak TLS, unless
    /// the operator says in so many words that a TLS-terminating proxy sits in front.
    /// </summary>
    internal static void RefuseCleartextOffLoopback(IPEndPoint endpoint, bool tls, bool allowInsecure, string what = "gRPC")
    {
        if (!tls && !allowInsecure && !IPAddress.IsLoopback(endpoint.Address))
        {
            throw new InvalidOperationException(
                $"refusing to serve {what} in clear on the non-loopback address {endpoint}: configure " +
                "DTrust:Listen:TlsCertificatePath and TlsKeyPath, or set DTrust:Listen:AllowInsecure=true behind a TLS proxy");
        }
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

/// <summary>
/// Counts open connections per client address on one listener and closes the ones over the cap as they arrive (a
/// connection middleware: no HTTP has been read yet, so a refused connection costs an accept and a close).
/// </summary>
internal sealed class ConnectionsPerAddress(int cap)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> _open = new(StringComparer.Ordinal);

    public Microsoft.AspNetCore.Connections.ConnectionDelegate Middleware(Microsoft.AspNetCore.Connections.ConnectionDelegate next) => async connection =>
    {
        var address = PublicRateLimit.Partition((connection.RemoteEndPoint as IPEndPoint)?.Address);
        if (_open.AddOrUpdate(address, 1, (_, n) => n + 1) > cap)
        {
            Release(address);
            connection.Abort(new Microsoft.AspNetCore.Connections.ConnectionAbortedException("too many connections from this address"));
            return;
        }

        try
        {
            await next(connection);
        }
        finally
        {
            Release(address);
        }
    };

    private void Release(string address)
    {
        // Drop the entry at zero, so that a scan of addresses does not grow the table.
        if (_open.AddOrUpdate(address, 0, (_, n) => n - 1) <= 0)
        {
            _open.TryRemove(new KeyValuePair<string, int>(address, 0));
        }
    }
}
