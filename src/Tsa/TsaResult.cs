namespace DTrust.Tsa;

/// <summary>One answer of the TSA: the DER TimeStampResp to send back plus what the host audits.</summary>
public sealed class TsaResult
{
    private readonly int _tokenOffset;

    internal TsaResult(PkiStatus status, PkiFailureInfo failureInfo, string? statusText, byte[] response,
        int tokenOffset = -1, string? serialNumber = null, DateTimeOffset? genTime = null, string? policy = null)
    {
        Status = status;
        FailureInfo = failureInfo;
        StatusText = statusText;
        Response = response;
        _tokenOffset = tokenOffset;
        SerialNumber = serialNumber;
        GenTime = genTime;
        Policy = policy;
    }

    public PkiStatus Status { get; }

    public bool IsGranted => Status == PkiStatus.Granted;

    /// <summary>Failure bits of a rejection; None when granted.</summary>
    public PkiFailureInfo FailureInfo { get; }

    /// <summary>The statusString sent to the client on rejection (no internal details on system failures).</summary>
    public string? StatusText { get; }

    /// <summary>DER TimeStampResp, for application/timestamp-reply or the gRPC bytes field.</summary>
    public byte[] Response { get; }

    /// <summary>The TimeStampToken (CMS ContentInfo) inside the response, e.g. for a CAdES signature-time-stamp.</summary>
    public ReadOnlyMemory<byte> Token => _tokenOffset < 0 ? default : Response.AsMemory(_tokenOffset);

    /// <summary>TSTInfo serialNumber as upper-case hex (big-endian) for the audit log; null when refused.</summary>
    public string? SerialNumber { get; }

    public DateTimeOffset? GenTime { get; }

    /// <summary>Policy OID written into the token.</summary>
    public string? Policy { get; }
}
