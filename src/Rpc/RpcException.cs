namespace DTrust.Rpc;

/// <summary>
/// A call ended with a non-OK status. Thrown by handlers to choose the status the peer sees, and by the client when
/// the server answered with one.
/// </summary>
public class RpcException : Exception
{
    public RpcException(StatusCode statusCode, string detail)
        : this(statusCode, detail, new Metadata())
    {
    }

    public RpcException(StatusCode statusCode, string detail, Metadata trailers)
        : this(statusCode, detail, trailers, null)
    {
    }

    public RpcException(StatusCode statusCode, string detail, Metadata trailers, Exception? innerException)
        : base($"Status({statusCode}, \"{detail}\")", innerException)
    {
        ArgumentNullException.ThrowIfNull(detail);
        ArgumentNullException.ThrowIfNull(trailers);
        StatusCode = statusCode;
        Detail = detail;
        Trailers = trailers;
    }

    public RpcException()
        : this(StatusCode.Unknown, "")
    {
    }

    public RpcException(string message)
        : this(StatusCode.Unknown, message)
    {
    }

    public RpcException(string message, Exception innerException)
        : this(StatusCode.Unknown, message, new Metadata(), innerException)
    {
    }

    public StatusCode StatusCode { get; }

    public string Detail { get; }

    public RpcStatus Status => new(StatusCode, Detail);

    /// <summary>Trailing metadata: on the server, sent with the status; on the client, what the server sent.</summary>
    public Metadata Trailers { get; }
}
