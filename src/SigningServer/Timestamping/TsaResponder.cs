using DTrust.SigningServer.Hosting;
using DTrust.Tsa;

namespace DTrust.SigningServer.Timestamping;

/// <summary>
/// The host's door to the TSA library. Signing waits for an HSM session asynchronously inside the vault
/// (<c>HsmSigningKey.SignDigestAsync</c>), so no thread-pool thread blocks while every session is busy.
/// </summary>
public sealed class TsaResponder(TimeStampAuthority tsa)
{
    /// <summary>Answers a DER TimeStampReq from a client (gRPC or HTTP), counted in <c>dtrust_tsa_tokens_total</c>.</summary>
    public async Task<TsaResult> RespondAsync(ReadOnlyMemory<byte> derRequest, CancellationToken ct)
    {
        var result = await tsa.RespondAsync(derRequest, ct);
        ServerMetrics.CountTsaToken(TsaSource.Request, result);
        return result;
    }
}
