namespace DTrust.Rpc.Server;

/// <summary>Writes the messages of a server-streaming response; one write at a time.</summary>
public interface IServerStreamWriter<in T>
{
    Task WriteAsync(T message, CancellationToken cancellationToken = default);
}
