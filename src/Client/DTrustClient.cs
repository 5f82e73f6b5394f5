using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using DTrust.Signing.V1;
using DTrust.Tsa.V1;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace DTrust.Client;

/// <summary>
/// A typed client for the DTrust services over one gRPC channel (the stubs generated in DTrust.Contracts). With an
/// API key every call carries <c>authorization: Bearer …</c>.
/// </summary>
public sealed class DTrustClient(GrpcChannel channel, string? apiKey = null) : IDisposable
{
    private readonly TimestampService.TimestampServiceClient _tsa = new(channel);
    private readonly Health.HealthClient _health = new(channel);
    private readonly CallInvoker _authenticated = apiKey is null
        ? channel.CreateCallInvoker()
        : channel.Intercept(metadata =>
        {
            metadata.Add("authorization", "Bearer " + apiKey);
            return metadata;
        });

    /// <summary>The server this client talks to, as host:port.</summary>
    public string Target => channel.Target;

    /// <summary>CredentialService: holders, credentials, callers, audit (operator role; some methods partners too).</summary>
    public CredentialService.CredentialServiceClient Credentials => new(_authenticated);

    /// <summary>SigningService: authorize hashes, then sign them (partner role).</summary>
    public SigningService.SigningServiceClient Signing => new(_authenticated);

    /// <summary>
    /// A channel to <paramref name="address"/>: <c>http://</c> is cleartext HTTP/2 (prior knowledge), <c>https://</c>
    /// TLS. Several HTTP/2 connections are allowed so that many concurrent calls are not capped at one
    /// connection's stream limit.
    /// </summary>
    public static DTrustClient Connect(Uri address, GrpcChannelOptions? options = null, string? apiKey = null)
    {
        options ??= new GrpcChannelOptions();
        options.HttpHandler ??= new SocketsHttpHandler { EnableMultipleHttp2Connections = true };
        return new DTrustClient(GrpcChannel.ForAddress(address, options), apiKey);
    }

    public async Task<HealthCheckResponse.Types.ServingStatus> CheckHealthAsync(string service = "", CancellationToken ct = default)
    {
        var response = await _health.CheckAsync(
            new HealthCheckRequest { Service = service }, deadline: DateTime.UtcNow.AddSeconds(10), cancellationToken: ct);
        return response.Status;
    }

    /// <summary>Sends a DER TimeStampReq and returns the DER TimeStampResp as the TSA answered it.</summary>
    public async Task<byte[]> TimestampAsync(ReadOnlyMemory<byte> derRequest, CancellationToken ct = default)
    {
        var response = await _tsa.TimestampAsync(
            new TimestampRequest { DerRequest = ByteString.CopyFrom(derRequest.Span) },
            deadline: DateTime.UtcNow.AddSeconds(30),
            cancellationToken: ct);
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

    /// <summary>
    /// Time-stamps a hash computed here (a PDF's byte ranges, for a document time-stamp) and answers the token as
    /// the TSA encoded it, checked against the request like <see cref="TimestampDataAsync"/>.
    /// </summary>
    public async Task<(Rfc3161TimestampToken Token, byte[] TokenDer)> TimestampHashAsync(
        ReadOnlyMemory<byte> hash, HashAlgorithmName algorithm, CancellationToken ct = default)
    {
        var request = Rfc3161TimestampRequest.CreateFromHash(
            hash, algorithm, requestedPolicyId: null, nonce: RandomNumberGenerator.GetBytes(8), requestSignerCertificates: true);
        var response = await TimestampAsync(request.Encode(), ct);
        var token = request.ProcessResponse(response, out _);

        // TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo }.
        var fields = new AsnReader(response, AsnEncodingRules.DER).ReadSequence();
        fields.ReadEncodedValue();
        return (token, fields.ReadEncodedValue().ToArray());
    }

    public void Dispose() => channel.Dispose();
}
