namespace DTrust.SigningServer.Hosting;

/// <summary>Source-generated log messages of the host. Never a PIN, OTP, API key or key material.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(EventId = 1001, Level = LogLevel.Information, Message = "Created development root CA {Subject}")]
    public static partial void RootCreated(ILogger logger, string subject);

    [LoggerMessage(EventId = 1002, Level = LogLevel.Information, Message = "Issued development TSA certificate {Subject}")]
    public static partial void TsaCertificateIssued(ILogger logger, string subject);
}
