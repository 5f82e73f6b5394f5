using Microsoft.Extensions.Logging;

namespace DTrust.KeyVault.Internal;

/// <summary>Every vault log line. None takes a PIN, a salt or key material.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 4001, Level = LogLevel.Information, Message = "Key domain {Domain} opened on token '{Token}' (slot {Slot}) with {Sessions} sessions")]
    public static partial void DomainOpened(ILogger logger, string domain, string token, ulong slot, int sessions);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Error, Message = "Key domain {Domain}: token refused the user PIN ({ReturnValue}); closing its sessions and not retrying")]
    public static partial void LoginRefused(ILogger logger, string domain, string returnValue);

    [LoggerMessage(EventId = 4003, Level = LogLevel.Warning, Message = "Key domain {Domain}: session replaced after {Reason}")]
    public static partial void SessionReplaced(ILogger logger, string domain, string reason);

    [LoggerMessage(EventId = 4004, Level = LogLevel.Warning, Message = "Key domain {Domain}: could not open a replacement session ({Reason}); will retry on next use")]
    public static partial void SessionReopenFailed(ILogger logger, string domain, string reason);

    [LoggerMessage(EventId = 4005, Level = LogLevel.Warning, Message = "Key domain {Domain}: device fault ({Reason}); all sessions will be reopened")]
    public static partial void DeviceFault(ILogger logger, string domain, string reason);

    [LoggerMessage(EventId = 4006, Level = LogLevel.Information, Message = "Key domain {Domain}: created master key")]
    public static partial void MasterKeyCreated(ILogger logger, string domain);

    [LoggerMessage(EventId = 4007, Level = LogLevel.Information, Message = "Key domain {Domain}: created signing key '{Label}' ({Algorithm})")]
    public static partial void SigningKeyCreated(ILogger logger, string domain, string label, KeyAlgorithm algorithm);

    [LoggerMessage(EventId = 4008, Level = LogLevel.Warning, Message = "Key domain {Domain}: could not destroy a session object ({Reason}); its session will be closed")]
    public static partial void DestroyFailed(ILogger logger, string domain, string reason);

    [LoggerMessage(EventId = 4009, Level = LogLevel.Error, Message = "Key domain {Domain}: token flags {Flag} forbid presenting the user PIN; not logging in")]
    public static partial void LoginBlocked(ILogger logger, string domain, string flag);

    [LoggerMessage(EventId = 4010, Level = LogLevel.Warning, Message = "Key domain {Domain}: cached object handles dropped after {Reason}; they are looked up again on next use")]
    public static partial void HandlesDropped(ILogger logger, string domain, string reason);

    [LoggerMessage(EventId = 4011, Level = LogLevel.Warning, Message = "Key domain {Domain}: an unwrap failed and the control unwrap on a fresh session failed too ({Reason}); reported as HSM unavailable, not as a wrong PIN")]
    public static partial void ControlUnwrapFailed(ILogger logger, string domain, string reason);
}
