namespace DTrust.Store.Internal;

internal static partial class StoreLog
{
    [LoggerMessage(EventId = 1501, Level = LogLevel.Information, Message = "Store ({Engine}): applied schema migration {Version}")]
    public static partial void MigrationApplied(ILogger log, string engine, int version);

    [LoggerMessage(EventId = 1502, Level = LogLevel.Information, Message = "Store ({Engine}): schema at version {Version}")]
    public static partial void SchemaReady(ILogger log, string engine, int version);

    [LoggerMessage(EventId = 1503, Level = LogLevel.Error, Message = "Store ({Engine}): audit batch of {Count} entries not committed; every caller of the batch is failed")]
    public static partial void AuditBatchFailed(ILogger log, string engine, int count, Exception error);
}
