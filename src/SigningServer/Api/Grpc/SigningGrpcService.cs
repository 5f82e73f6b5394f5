using DTrust.SigningServer.Callers;
using DTrust.SigningServer.Credentials;
using DTrust.SigningServer.Signing;
using DTrust.Store;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using V1 = DTrust.Signing.V1;

namespace DTrust.SigningServer.Api.Grpc;

/// <summary><c>dtrust.signing.v1.SigningService</c>, partner role: mapping only; the flow is <see cref="SigningFlow"/>.</summary>
[AllowRoles(CallerRole.Partner)]
internal sealed class SigningGrpcService(SigningFlow flow) : V1.SigningService.SigningServiceBase
{
    public override async Task<V1.AuthorizeSignatureResponse> AuthorizeSignature(V1.AuthorizeSignatureRequest request, ServerCallContext context)
    {
        var authorization = await flow.AuthorizeAsync(
            context.Caller(), request.CredentialId, Hashes(request.Hashes), ProtoMapping.ToHash(request.HashAlgorithm),
            request.Description, context.CancellationToken);
        var response = new V1.AuthorizeSignatureResponse
        {
            ChallengeId = authorization.ChallengeId,
            ExpiresAt = Timestamp.FromDateTimeOffset(authorization.ExpiresAt),
        };
        response.RequiredFactors.Add(V1.Factor.Pin);
        if (authorization.NeedsOtp)
        {
            response.RequiredFactors.Add(V1.Factor.Otp);
        }

        return response;
    }

    public override async Task<V1.SignHashResponse> SignHash(V1.SignHashRequest request, ServerCallContext context)
    {
        var format = request.SignatureFormat switch
        {
            V1.SignatureFormat.Raw => SignatureFormat.Raw,
            V1.SignatureFormat.CmsDetached => SignatureFormat.Cades,
            V1.SignatureFormat.PadesCms => SignatureFormat.Pades,
            _ => throw new DTrustException(ErrorKind.InvalidArgument, "signature_format must be RAW, CMS_DETACHED or PADES_CMS"),
        };
        var result = await flow.SignAsync(
            context.Caller(),
            new SignatureRequest(
                request.CredentialId,
                request.ChallengeId,
                request.Otp,
                request.ActivationPin,
                Hashes(request.Hashes),
                ProtoMapping.ToHash(request.HashAlgorithm),
                format,
                request.Timestamp,
                RsaPkcs1: request.RsaPadding == V1.RsaPadding.Pkcs1V15,
                EcdsaP1363: request.EcdsaIeeeP1363),
            context.CancellationToken);

        var response = new V1.SignHashResponse { Level = ProtoMapping.ToProto(result.Level) };
        response.Signatures.AddRange(result.Signatures.Select(b => UnsafeByteOperations.UnsafeWrap(b)));
        response.CertificateChain.AddRange(result.Chain.Select(b => UnsafeByteOperations.UnsafeWrap(b)));
        response.TimestampTokens.AddRange(result.TimestampTokens.Select(b => UnsafeByteOperations.UnsafeWrap(b)));
        return response;
    }

    private static ReadOnlyMemory<byte>[] Hashes(Google.Protobuf.Collections.RepeatedField<ByteString> hashes) =>
        [.. hashes.Select(h => h.Memory)];
}
