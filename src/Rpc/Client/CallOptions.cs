namespace DTrust.Rpc.Client;

/// <summary>Per-call settings: metadata, deadline and cancellation.</summary>
public readonly record struct CallOptions
{
    public CallOptions()
    {
    }

    public Metadata? Headers { get; init; }

    /// <summary>When the call gives up (UTC); sent as <c>grpc-timeout</c> and enforced locally as well.</summary>
    public DateTime? Deadline { get; init; }

    public CancellationToken CancellationToken { get; init; }

    /// <summary>Shorthand for a deadline <paramref name="timeout"/> from now.</summary>
    public static CallOptions WithTimeout(TimeSpan timeout, CancellationToken cancellationToken = default) =>
        new() { Deadline = DateTime.UtcNow + timeout, CancellationToken = cancellationToken };
}
