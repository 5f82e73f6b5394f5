using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using DTrust.Rpc;
using DTrust.Rpc.Client;
using DTrust.Rpc.Health;
using DTrust.Tsa.V1;
using Google.Protobuf;
using Grpc.Health.V1;

namespace DTrust.Client;

/// <summary>A typed client for the DTrust services over one gRPC channel.</summary>
public sealed class DTrustClient(GrpcChannel channel) : IDisposable
{
    public static readonly RpcMethod<TimestampRequest, TimestampResponse> TimestampMethod =
        new(MethodType.Unary, "dtrust.tsa.v1.TimestampService", "Timestamp", TimestampRequest.Parser, TimestampResponse.Parser);

    public static DTrustClient Connect(Uri address, GrpcChannelOptions? options = null) =>
        new(GrpcChannel.ForAddress(address, options));

    public async Task<HealthCheckResponse.Types.ServingStatus> CheckHealthAsync(string service = "", CancellationToken ct = default)
    {
        var response = await channel.UnaryAsync(
            HealthService.CheckMethod, new HealthCheckRequest { Service = service }, CallOptions.WithTimeout(TimeSpan.FromSeconds(10), ct));
        return response.Status;
    }

    /// <summary>Sends a DER TimeStampReq and returns the DER TimeStampResp as the TSA answered it.</summary>
    public async Task<byte[]> TimestampAsync(ReadOnlyMemory<byte> derRequest, CancellationToken ct = default)
    {
        var response = await channel.UnaryAsync(
            TimestampMethod,
            new TimestampRequest { DerRequest = ByteString.CopyFrom(derRequest.Span) },
            CallOptions.WithTimeout(TimeSpan.FromSeconds(30), ct));
        return response.DerResponse.ToByteArray();
    }

    /// <summary>Time-stamps data: builds the request (with a fresh nonce), checks the answer matches it.</summary>
    public async Task<(Rfc3161TimestampToken Token, byte[] Response)> TimestampDataAsync(
        ReadOnlyMemory<byte> data, HashAlgorithmName hash, CancellationToken ct = default)
    {
        var request = Rfc3161TimestampRequest.CreateFromData(
            data.Span, hash, requestedPolicyId: null, nonce: RandomNumberGenerator.GetBytes(8), requestSignerCertificates: true);
        var response = await TimestampAsync(request.Encode(), ct);

        // ProcessResponse checks status, imprint, nonce and the token's signature.
        var token = request.ProcessResponse(response, out _);
        return (token, response);
    }

    public void Dispose() => channel.Dispose();
}
