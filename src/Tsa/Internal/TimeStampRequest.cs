using System.Security.Cryptography;

namespace DTrust.Tsa.Internal;

/// <summary>A TimeStampReq that passed every check, reduced to what the token needs.</summary>
/// <param name="MessageImprint">The request's MessageImprint DER, echoed byte for byte as RFC 3161 requires.</param>
/// <param name="Policy">reqPolicy when present (already checked against the accepted set).</param>
/// <param name="Nonce">The nonce INTEGER content octets when present, echoed unchanged.</param>
internal sealed record TimeStampRequest(
    HashAlgorithmName HashAlgorithm,
    ReadOnlyMemory<byte> MessageImprint,
    string? Policy,
    ReadOnlyMemory<byte>? Nonce,
    bool CertReq);

/// <summary>Why a request gets no token; turned into a rejection TimeStampResp, never seen by callers.</summary>
internal sealed class RequestRefusedException(PkiFailureInfo failure, string reason) : Exception(reason)
{
    public PkiFailureInfo Failure { get; } = failure;
}
