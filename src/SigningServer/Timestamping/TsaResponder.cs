using DTrust.Tsa;

namespace DTrust.SigningServer.Timestamping;

/// <summary>
/// The host's door to the TSA library. Signing waits for an HSM session asynchronously inside the vault
/// (<c>HsmSigningKey.SignDigestAsync</c>), so no thread-pool thread blocks while every session is busy.
/// </summary>
public sealed class TsaResponder(TimeStampAuthority tsa)
{
    public Task<TsaResult> RespondAsync(ReadOnlyMemory<byte> derRequest, CancellationToken ct) => tsa.RespondAsync(derRequest, ct);
}
