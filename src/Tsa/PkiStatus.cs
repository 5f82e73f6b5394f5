namespace DTrust.Tsa;

/// <summary>PKIStatus (RFC 3161 §2.4.2). This TSA only answers granted or rejection.</summary>
public enum PkiStatus
{
    Granted = 0,
    GrantedWithMods = 1,
    Rejection = 2,
    Waiting = 3,
    RevocationWarning = 4,
    RevocationNotification = 5,
}

/// <summary>
/// PKIFailureInfo (RFC 3161 §2.4.2). Flag value 1 &lt;&lt; n is ASN.1 named bit n, the convention
/// AsnWriter.WriteNamedBitList uses.
/// </summary>
[Flags]
public enum PkiFailureInfo
{
    None = 0,

    /// <summary>Unrecognized or unsupported algorithm (e.g. SHA-1 imprints).</summary>
    BadAlg = 1 << 0,

    /// <summary>Transaction not permitted or supported (e.g. an unknown request version).</summary>
    BadRequest = 1 << 2,

    /// <summary>The data submitted has the wrong format (bad DER, wrong digest length).</summary>
    BadDataFormat = 1 << 5,

    /// <summary>The TSA's time source is not available (clock flagged unsynchronised).</summary>
    TimeNotAvailable = 1 << 14,

    /// <summary>The requested TSA policy is not supported.</summary>
    UnacceptedPolicy = 1 << 15,

    /// <summary>A requested (critical) extension is not supported.</summary>
    UnacceptedExtension = 1 << 16,

    /// <summary>The additional information requested could not be understood or is not available.</summary>
    AddInfoNotAvailable = 1 << 17,

    /// <summary>The request cannot be handled due to a system failure.</summary>
    SystemFailure = 1 << 25,
}
