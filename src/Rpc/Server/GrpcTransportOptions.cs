namespace DTrust.Rpc.Server;

/// <summary>Server-side transport settings, registered with <c>services.AddGrpcTransport(...)</c>.</summary>
public sealed class GrpcTransportOptions
{
    public const int DefaultMaxMessageSize = 4 * 1024 * 1024;

    /// <summary>Largest request message accepted, checked from the 5-byte prefix before anything is buffered.</summary>
    public int MaxReceiveMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>Largest response message sent; a larger one ends the call with RESOURCE_EXHAUSTED.</summary>
    public int MaxSendMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>
    /// The one place where the host turns its own exceptions into statuses. Return null to let the transport answer
    /// UNKNOWN with a generic message (the exception is logged, never sent). <see cref="RpcException"/> never
    /// reaches the mapper.
    /// </summary>
    public Func<Exception, RpcStatus?>? ExceptionMapper { get; set; }
}
