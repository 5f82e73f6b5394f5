using Microsoft.Extensions.Logging;

namespace DTrust.Tsa.Internal;

internal static partial class TsaLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Debug, Message = "Time-stamp {Serial} issued at {GenTime:O}")]
    public static partial void Issued(ILogger logger, string serial, DateTimeOffset genTime);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Debug, Message = "Time-stamp request refused ({Failure}): {Reason}")]
    public static partial void Refused(ILogger logger, PkiFailureInfo failure, string reason);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Warning, Message = "Time-stamp refused: the clock is flagged unsynchronised")]
    public static partial void ClockUnsynchronized(ILogger logger);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Warning,
        Message = "The clock stepped back by more than the declared accuracy; genTime follows it, tokens are not monotonic across this step")]
    public static partial void ClockSteppedBack(ILogger logger);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Error,
        Message = "Time-stamp refused: genTime {GenTime:O} is outside the TSA certificate validity {NotBefore:O} to {NotAfter:O}")]
    public static partial void CertificateNotValid(ILogger logger, DateTimeOffset genTime, DateTimeOffset notBefore,
        DateTimeOffset notAfter);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Error, Message = "Time-stamp failed: system failure")]
    public static partial void SystemFailure(ILogger logger, Exception exception);
}
