using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace DTrust.Testing;

/// <summary>
/// Keeps every formatted log line, so tests can check what a component logs and, as much, what it never logs
/// (PINs, failure details meant only for the log). Usable as a logger factory or as a provider for a host.
/// </summary>
public sealed class LogCapture : ILoggerFactory, ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue($"{logLevel} {eventId.Id} {formatter(state, exception)} {exception}");
    }
}
