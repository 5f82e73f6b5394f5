
namespace DTrust.Pki;

/// <summary>Source-generated log messages of the PKI (event ids 16xx). Never key material.</summary>
internal static partial class PkiLog
{
    [LoggerMessage(EventId = 1601, Level = LogLevel.Information, Message = "Issued development {Level} CA certificate {Subject}")]
    public static partial void CaCertificateIssued(ILogger logger, CredentialLevel level, string subject);

    [LoggerMessage(EventId = 1602, Level = LogLevel.Information, Message = "Issued development {Level} OCSP responder certificate {Subject}")]
    public static partial void OcspCertificateIssued(ILogger logger, CredentialLevel level, string subject);

    [LoggerMessage(EventId = 1603, Level = LogLevel.Information, Message = "Issued {Level} certificate serial {Serial}, valid until {NotAfter:O}")]
    public static partial void CertificateIssued(ILogger logger, CredentialLevel level, string serial, DateTimeOffset notAfter);

    [LoggerMessage(EventId = 1604, Level = LogLevel.Information, Message = "Published {Level} CRL number {Number} with {Count} entries, next update {NextUpdate:O}")]
    public static partial void CrlPublished(ILogger logger, CredentialLevel level, System.Numerics.BigInteger number, int count, DateTimeOffset nextUpdate);

    [LoggerMessage(EventId = 1605, Level = LogLevel.Error, Message = "Publishing the {Level} CRL failed; the previous CRL stays served until its nextUpdate")]
    public static partial void CrlPublishFailed(ILogger logger, CredentialLevel level, Exception exception);

    [LoggerMessage(EventId = 1606, Level = LogLevel.Debug, Message = "Malformed OCSP request: {Reason} {Count}")]
    public static partial void OcspMalformed(ILogger logger, string reason, int count);

    [LoggerMessage(EventId = 1608, Level = LogLevel.Debug, Message = "Malformed OCSP request: it does not parse")]
    public static partial void OcspUnparsable(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1609, Level = LogLevel.Debug, Message = "OCSP request names none of our issuing CAs; answered unauthorized")]
    public static partial void OcspUnauthorized(ILogger logger);

    [LoggerMessage(EventId = 1610, Level = LogLevel.Warning, Message = "OCSP answer not signed within the signing timeout (responder key's sessions busy); answered tryLater")]
    public static partial void OcspSignTimedOut(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1607, Level = LogLevel.Error, Message = "OCSP request failed inside the responder; answered internalError")]
    public static partial void OcspFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1620, Level = LogLevel.Warning, Message = "Could not read the latest {Level} CRL from the store; serving the one held")]
    public static partial void CrlSyncFailed(ILogger logger, CredentialLevel level, Exception exception);

    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Created development root CA {Subject}")]
    public static partial void RootCreated(ILogger logger, string subject);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Issued development TSA certificate {Subject}")]
    public static partial void TsaCertificateIssued(ILogger logger, string subject);

    [LoggerMessage(EventId = 1003, Level = LogLevel.Information, Message = "Signed the development root's CRL, next update {NextUpdate}")]
    public static partial void RootCrlIssued(ILogger logger, DateTimeOffset nextUpdate);

    [LoggerMessage(EventId = 1004, Level = LogLevel.Warning, Message = "The root CRL at {Path} cannot be read ({Reason}); the last good one is served")]
    public static partial void RootCrlUnreadable(ILogger logger, string path, string reason);
}
