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
internal sealed class SigningGrpcService(SigningFlow flow, ValidationDataService validation) : V1.SigningService.SigningServiceBase
{
    public override async Task<V1.AuthorizeSignatureResponse> AuthorizeSignature(V1.AuthorizeSignatureRequest request, ServerCallContext context)
    {
        switch (request.Mode)
        {
            case V1.AuthorizationMode.HolderApproval:
                return await ForHolderAsync(request, context);
            case V1.AuthorizationMode.Unspecified or V1.AuthorizationMode.Explicit:
                break;
            default:
                throw new DTrustException(ErrorKind.InvalidArgument, "mode must be EXPLICIT or HOLDER_APPROVAL");
        }

        if (request.Labels.Count > 0 || request.ReturnUrl.Length > 0 || request.PartnerRedirects || request.State.Length > 0)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "labels, return_url, partner_redirects and state are for HOLDER_APPROVAL");
        }

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
                EcdsaP1363: request.EcdsaIeeeP1363)
            {
                AuthorizationId = request.AuthorizationId,
                Sad = request.Sad,
            },
            context.CancellationToken);

        var response = new V1.SignHashResponse { Level = ProtoMapping.ToProto(result.Level) };
        response.Signatures.AddRange(result.Signatures.Select(b => UnsafeByteOperations.UnsafeWrap(b)));
        response.CertificateChain.AddRange(result.Chain.Select(b => UnsafeByteOperations.UnsafeWrap(b)));
        response.TimestampTokens.AddRange(result.TimestampTokens.Select(b => UnsafeByteOperations.UnsafeWrap(b)));
        return response;
    }

    public override async Task<V1.AuthorizationStatus> GetAuthorization(V1.GetAuthorizationRequest request, ServerCallContext context) =>
        ProtoMapping.ToProto(await flow.GetApprovalAsync(context.Caller(), request.CredentialId, request.AuthorizationId, context.CancellationToken));

    public override async Task WatchAuthorization(
        V1.GetAuthorizationRequest request, IServerStreamWriter<V1.AuthorizationStatus> responseStream, ServerCallContext context)
    {
        await foreach (var status in flow.WatchApprovalAsync(context.Caller(), request.CredentialId, request.AuthorizationId, context.CancellationToken))
        {
            await responseStream.WriteAsync(ProtoMapping.ToProto(status), context.CancellationToken);
        }
    }

    public override async Task<V1.AuthorizationStatus> ExchangeApprovalCode(V1.ExchangeApprovalCodeRequest request, ServerCallContext context) =>
        ProtoMapping.ToProto(await flow.ExchangeReturnCodeAsync(context.Caller(), request.Code, context.CancellationToken));

    public override async Task<V1.ValidationData> GetValidationData(V1.GetValidationDataRequest request, ServerCallContext context)
    {
        var data = await validation.ForAsync(context.Caller(), request.CredentialId, context.CancellationToken);
        var response = new V1.ValidationData();
        response.Certificates.AddRange(data.Certificates.Select(b => UnsafeByteOperations.UnsafeWrap(b)));
        response.OcspResponses.AddRange(data.OcspResponses.Select(b => UnsafeByteOperations.UnsafeWrap(b)));
        response.Crls.AddRange(data.Crls.Select(b => UnsafeByteOperations.UnsafeWrap(b)));
        return response;
    }

    private async Task<V1.AuthorizeSignatureResponse> ForHolderAsync(V1.AuthorizeSignatureRequest request, ServerCallContext context)
    {
        var authorization = await flow.AuthorizeForHolderAsync(
            context.Caller(),
            new ApprovalRequest(
                request.CredentialId, Hashes(request.Hashes), ProtoMapping.ToHash(request.HashAlgorithm), request.Description,
                [.. request.Labels], request.ReturnUrl, request.State, request.PartnerRedirects),
            context.CancellationToken);
        return new V1.AuthorizeSignatureResponse
        {
            AuthorizationId = authorization.Id,
            ApprovalUrl = authorization.ApprovalUrl.ToString(),
            ExpiresAt = Timestamp.FromDateTimeOffset(authorization.ExpiresAt),
            State = V1.AuthorizationState.Pending,
        };
    }

    private static ReadOnlyMemory<byte>[] Hashes(Google.Protobuf.Collections.RepeatedField<ByteString> hashes) =>
        [.. hashes.Select(h => h.Memory)];
}
