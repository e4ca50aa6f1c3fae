using Apiary.Protocol;
using Apiary.Sandbox.Unconfined;
using Apiary.Testing;
using Microsoft.Extensions.Logging;

namespace Apiary.Sandbox.Tests.Execution;

/// <summary>The development backend: chosen explicitly, loud about it, and every result marked.</summary>
public sealed class UnconfinedBackendTests : IDisposable
{
    private readonly TempDirectory _workspace = new("apiary-ws");
    private readonly ILoggerFactory _logging;
    private readonly CapturingLoggerProvider _logs;
    private readonly UnconfinedBackend _backend;

    public UnconfinedBackendTests()
    {
        _logging = CapturingLoggerProvider.CreateFactory(out _logs);
        _backend = new UnconfinedBackend(_logging.CreateLogger<UnconfinedBackend>());
    }

    public void Dispose()
    {
        _backend.Dispose();
        _logging.Dispose();
        _workspace.Dispose();
    }

    [Fact]
    public void Create_LogsTheWarning()
    {
        var warning = Assert.Single(_logs.Entries);
        Assert.Equal((LogLevel.Warning, 2001, "UnconfinedBackendInUse"), (warning.Level, warning.EventId.Id, warning.EventId.Name));
        Assert.Equal(typeof(UnconfinedBackend).FullName, warning.Category);
        Assert.Contains("no sandbox", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_ResultMarkedUnconfinedAndRunsInTheWorkspace()
    {
        Assert.False(_backend.IsConfined);
        await using var session = await _backend.OpenSessionAsync(SessionExtensions.Options(_workspace), TestContext.Current.CancellationToken);
        var outcome = await session.ShAsync("pwd; echo $HOME");
        Assert.True(outcome.Complete!.Unconfined);
        Assert.Equal($"{_workspace.Path}\n{_workspace.Path}\n", outcome.Stdout);
    }

    [Fact]
    public async Task Timeout_StillStopsTheTree()
    {
        await using var session = await _backend.OpenSessionAsync(SessionExtensions.Options(_workspace), TestContext.Current.CancellationToken);
        var outcome = await session.RunAsync(new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "/bin/sh", Args = ["-c", "sleep 30 & sleep 30"], TimeoutMs = 500 });
        Assert.Equal(CompletionReason.TimedOut, outcome.Complete!.Reason);
        Assert.True(outcome.Complete.Unconfined);
    }
}
