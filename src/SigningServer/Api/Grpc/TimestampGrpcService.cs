using DTrust.SigningServer.Timestamping;
using DTrust.Tsa.V1;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Authorization;

namespace DTrust.SigningServer.Api.Grpc;

/// <summary><c>dtrust.tsa.v1.TimestampService</c>: DER TimeStampReq in, DER TimeStampResp out. Anyone may ask.</summary>
[AllowAnonymous]
internal sealed class TimestampGrpcService(TsaResponder tsa) : TimestampService.TimestampServiceBase
{
    public override async Task<TimestampResponse> Timestamp(TimestampRequest request, ServerCallContext context)
    {
        if (request.DerRequest.IsEmpty)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "der_request is empty: send a DER TimeStampReq");
        }

        var result = await tsa.RespondAsync(request.DerRequest.Memory, context.CancellationToken);

        // The response array is new for each call and never changed afterwards: wrap it, do not copy it.
        return new TimestampResponse { DerResponse = UnsafeByteOperations.UnsafeWrap(result.Response) };
    }
}
