using Apiary.Protocol;
using Apiary.Sandbox.Unconfined;
using Apiary.Testing;

namespace Apiary.Sandbox.Tests.Execution;

/// <summary>The development backend: chosen explicitly, loud about it, and every result marked.</summary>
public sealed class UnconfinedBackendTests : IDisposable
{
    private readonly TempDirectory _workspace = new("apiary-ws");
    private readonly StringWriter _warnings = new();
    private readonly UnconfinedBackend _backend;

    public UnconfinedBackendTests() => _backend = new UnconfinedBackend(_warnings);

    public void Dispose()
    {
        _backend.Dispose();
        _warnings.Dispose();
        _workspace.Dispose();
    }

    [Fact]
    public void Create_WritesTheWarning() =>
        Assert.Contains("no sandbox", _warnings.ToString(), StringComparison.Ordinal);

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
