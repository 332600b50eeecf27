using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Storage.Tests.Fixtures;

/// <summary>
/// Files a test keeps for a person to look at (screenshots, the logs of every resource of an AppHost run), under
/// <c>STORAGE_TEST_ARTIFACTS</c> (the test command sets <c>TestResults/artifacts</c>), else under the repository's
/// <c>TestResults/artifacts</c>.
/// </summary>
public static class TestArtifacts
{
    public static string Folder { get; } = Directory.CreateDirectory(
        Environment.GetEnvironmentVariable("STORAGE_TEST_ARTIFACTS") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Repository.Root, "TestResults", "artifacts")).FullName;

    public static string PathFor(string name) => Path.Combine(Folder, name);
}

/// <summary>Writes every log line of a host (an AppHost run: its own and each resource's output) to one file.</summary>
public sealed class FileLoggerProvider(string path) : ILoggerProvider
{
    private readonly StreamWriter _writer = new(path, append: false) { AutoFlush = true };
    private readonly ConcurrentDictionary<string, FileLogger> _loggers = new();

    public string Path { get; } = path;

    public ILogger CreateLogger(string categoryName) => _loggers.GetOrAdd(categoryName, name => new FileLogger(name, this));

    public void Dispose()
    {
        lock (_writer)
        {
            _writer.Dispose();
        }
    }

    private void Write(string category, LogLevel level, string message)
    {
        lock (_writer)
        {
            if (_writer.BaseStream.CanWrite)
            {
                _writer.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {level,-11} {category}: {message}");
            }
        }
    }

    private sealed class FileLogger(string category, FileLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                provider.Write(category, logLevel, exception is null ? formatter(state, exception) : $"{formatter(state, exception)}{Environment.NewLine}{exception}");
            }
        }
    }
}
