namespace DTrust.Store.Internal;

internal static partial class StoreLog
{
    [LoggerMessage(EventId = 1501, Level = LogLevel.Information, Message = "Store ({Engine}): applied schema migration {Version}")]
    public static partial void MigrationApplied(ILogger log, string engine, int version);

    [LoggerMessage(EventId = 1502, Level = LogLevel.Information, Message = "Store ({Engine}): schema at version {Version}")]
    public static partial void SchemaReady(ILogger log, string engine, int version);

    [LoggerMessage(EventId = 1503, Level = LogLevel.Error, Message = "Store ({Engine}): audit batch of {Count} entries not committed; every caller of the batch is failed")]
    public static partial void AuditBatchFailed(ILogger log, string engine, int count, Exception error);

    [LoggerMessage(EventId = 1504, Level = LogLevel.Warning, Message = "Store ({Engine}): {Count} queued writes kept for the next batch")]
    public static partial void QueuedWritesKept(ILogger log, string engine, int count);

    [LoggerMessage(EventId = 1505, Level = LogLevel.Error, Message = "Store ({Engine}): shutting down with the store failing; {Count} queued writes are lost")]
    public static partial void QueuedWritesLost(ILogger log, string engine, int count);
}
