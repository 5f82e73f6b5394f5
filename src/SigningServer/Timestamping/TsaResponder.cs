using DTrust.Tsa;

namespace DTrust.SigningServer.Timestamping;

/// <summary>
/// The host's door to the TSA library. The library signs synchronously (ECDsa.SignHash into the HSM), and a signer
/// that finds every HSM session busy would block a thread-pool thread; under load that starves Kestrel. So callers
/// wait here asynchronously for one of as many slots as the tsa domain has sessions, and the sync call never blocks.
/// </summary>
public sealed class TsaResponder(TimeStampAuthority tsa, int sessions) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(sessions, sessions);

    public async Task<TsaResult> RespondAsync(ReadOnlyMemory<byte> derRequest, CancellationToken ct)
    {
        await _slots.WaitAsync(ct);
        try
        {
            return tsa.Respond(derRequest.Span);
        }
        finally
        {
            _slots.Release();
        }
    }

    public void Dispose() => _slots.Dispose();
}
