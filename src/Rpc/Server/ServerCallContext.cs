using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Rpc.Server;

/// <summary>
/// What a handler knows about its call. Everything is captured when the call starts, so a handler that outlives its
/// deadline never touches the finished HTTP request.
/// </summary>
public sealed class ServerCallContext
{
    private readonly IPAddress? _remoteAddress;
    private readonly int _remotePort;

    internal ServerCallContext(
        string method,
        Metadata requestHeaders,
        DateTime deadline,
        IPAddress? remoteAddress,
        int remotePort,
        X509Certificate2? clientCertificate,
        CancellationToken cancellationToken)
    {
        Method = method;
        RequestHeaders = requestHeaders;
        Deadline = deadline;
        _remoteAddress = remoteAddress;
        _remotePort = remotePort;
        ClientCertificate = clientCertificate;
        CancellationToken = cancellationToken;
    }

    /// <summary>The path, <c>/package.Service/Method</c>.</summary>
    public string Method { get; }

    /// <summary>Custom request metadata (protocol headers such as content-type or grpc-timeout are left out).</summary>
    public Metadata RequestHeaders { get; }

    /// <summary>When the client stops waiting (UTC); <see cref="DateTime.MaxValue"/> without grpc-timeout.</summary>
    public DateTime Deadline { get; }

    /// <summary>The remote address as gRPC names it, e.g. <c>ipv4:127.0.0.1:50123</c>.</summary>
    public string Peer => _remoteAddress switch
    {
        null => "unknown",
        { AddressFamily: AddressFamily.InterNetworkV6 } ip => $"ipv6:[{ip}]:{_remotePort}",
        IPAddress ip => $"ipv4:{ip}:{_remotePort}",
    };

    /// <summary>The certificate the client presented in the TLS handshake, if any.</summary>
    public X509Certificate2? ClientCertificate { get; }

    /// <summary>Cancelled when the client resets the stream or the deadline passes.</summary>
    public CancellationToken CancellationToken { get; }

    /// <summary>Sent with the first message, or with the status when the call fails before any message.</summary>
    // Made on first use: most handlers send no metadata, and the transport reads the fields without creating them.
    public Metadata ResponseHeaders => ResponseHeadersIfAny ??= new();

    /// <summary>Sent with the status at the end of the call.</summary>
    public Metadata ResponseTrailers => ResponseTrailersIfAny ??= new();

    internal Metadata? ResponseHeadersIfAny { get; private set; }

    internal Metadata? ResponseTrailersIfAny { get; private set; }
}
