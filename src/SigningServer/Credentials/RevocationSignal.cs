namespace DTrust.SigningServer.Credentials;

/// <summary>Wakes the revocation publisher as soon as a credential enters REVOCATION_IN_PROGRESS.</summary>
public sealed class RevocationSignal : IDisposable
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public void Notify()
    {
        try
        {
            _signal.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already signalled: one wake-up covers every revocation pending so far.
        }
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => _signal.WaitAsync(timeout, ct);

    public void Dispose() => _signal.Dispose();
}
