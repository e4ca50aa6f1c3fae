using System.Diagnostics;
using System.Text;
using Apiary.Events;
using Apiary.Storage.Sqlite;

namespace Apiary.Cli.Tests;

public sealed class AuditCommandTests : IAsyncDisposable
{
    private readonly CliRunner _cli = new();

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

    [Fact]
    public async Task AuditVerify_IntactThenTampered_ReportsCountThenFirstBrokenLink()
    {
        await _cli.InitAsync();
        var path = Path.Combine(_cli.HomeRoot, "events.db");
        await using (var store = await SqliteEventStore.OpenAsync(path, cancellationToken: TestContext.Current.CancellationToken))
        {
            for (var i = 1; i <= 4; i++)
            {
                await store.AppendAsync("agent-alice", ExpectedVersion.Any, [new EventData("step", Encoding.UTF8.GetBytes($"{{\"i\":{i}}}"))], TestContext.Current.CancellationToken);
            }
        }

        // The server verifies, and records its start: the 4 events, the supervisor's seed and the server's start.
        await _cli.StartServerAsync();
        var intact = await _cli.RunAsync("audit", "verify");
        Assert.True(intact.ExitCode == 0, intact.ToString());
        Assert.Equal("intact: 6 events", intact.OutLines[0]);

        using (var sqlite = Process.Start(new ProcessStartInfo("sqlite3") { ArgumentList = { path, "UPDATE events SET data = CAST('{\"i\":99}' AS BLOB) WHERE position = 3;" } })!)
        {
            await sqlite.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.Equal(0, sqlite.ExitCode);
        }

        var broken = await _cli.RunAsync("audit", "verify");
        Assert.Equal(1, broken.ExitCode);
        Assert.StartsWith("broken at position 3:", broken.OutLines[0], StringComparison.Ordinal);
        using var json = (await _cli.RunAsync("audit", "verify", "--json")).Json();
        Assert.False(json.RootElement.GetProperty("intact").GetBoolean());
        Assert.Equal(3, json.RootElement.GetProperty("broken_position").GetInt64());
    }
}
