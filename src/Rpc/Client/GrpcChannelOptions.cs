using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Rpc.Client;

/// <summary>Settings of a <see cref="GrpcChannel"/>.</summary>
public sealed class GrpcChannelOptions
{
    public int MaxReceiveMessageSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Checked before sending; null sends anything and leaves the limit to the server.</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>Presented when the server asks for a client certificate (https only).</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>Replaces the system's server certificate validation, e.g. to pin a private CA.</summary>
    public RemoteCertificateValidationCallback? ServerCertificateValidation { get; set; }

    /// <summary>A handler to send through instead of the channel's own SocketsHttpHandler; not disposed by the channel.</summary>
    public HttpMessageHandler? HttpHandler { get; set; }

    /// <summary>Sent as <c>user-agent</c>.</summary>
    public string UserAgent { get; set; } = "dtrust-rpc/1.0";
}
