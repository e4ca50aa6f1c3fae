using System.Diagnostics;
using System.Text;
using Apiary.Events;
using Apiary.Storage.Sqlite;
using Apiary.Testing;

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

        // The log is read from its file while a server runs on it: the 4 events, the supervisor's seed, the configuration
        // it loaded (config.loaded) and the server's start.
        await _cli.StartServerAsync();
        var intact = await _cli.RunAsync("audit", "verify");
        Assert.True(intact.ExitCode == 0, intact.ToString());
        Assert.Equal("intact: 7 events", intact.OutLines[0]);

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

    [Fact]
    public async Task Attack_DenyRewrittenAsAllowWithRecomputedHashes_VerifyNamesTheRangeAndUpRefusesUntilAccepted()
    {
        var ct = TestContext.Current.CancellationToken;
        await _cli.InitAsync();
        await _cli.StartServerAsync(unconfined: true);
        Assert.Equal(126, (await _cli.RunAsync("exec", "--", "rm", "-rf", "/")).ExitCode);
        await _cli.StopServerAsync();
        var path = Path.Combine(_cli.HomeRoot, "events.db");
        var head = (await new AuditFiles(_cli.HomeRoot).ReadHeadAsync(ct))!;
        var clean = await _cli.RunAsync("audit", "verify");
        Assert.True(clean.ExitCode == 0, clean.ToString());
        Assert.StartsWith($"checkpoints: 1 in the log verified with keys/audit-signing.pub (key ", clean.OutLines[1], StringComparison.Ordinal);
        Assert.Contains($"the newest, in keys/audit-head.json, covers position {head.Position} (signed ", clean.OutLines[1], StringComparison.Ordinal);

        // The forger turns the recorded deny into an allow and recomputes every later hash.
        await using (var store = await SqliteEventStore.OpenAsync(path, cancellationToken: ct))
        {
            RecordedEvent? decided = null;
            await foreach (var e in store.ReadAllAsync(1, ct))
            {
                decided = e.Type == "proposal.decided" ? e : decided;
            }

            var original = Encoding.UTF8.GetString(decided!.Data.Span);
            Assert.Contains("\"decision\":\"deny\"", original, StringComparison.Ordinal);
            await LogTamper.RewriteAsync(store, path, decided.Position, original.Replace("\"decision\":\"deny\"", "\"decision\":\"allow\"", StringComparison.Ordinal));
            Assert.True((await store.VerifyChainAsync(ct)).IsIntact, "the chain alone links again");
        }

        var verify = await _cli.RunAsync("audit", "verify");
        Assert.Equal(1, verify.ExitCode);
        Assert.StartsWith($"rewritten between positions 1 and {head.Position}: the chain links, but position {head.Position} does not have the hash signed in the newest checkpoint", verify.OutLines[0], StringComparison.Ordinal);
        Assert.StartsWith("damaged: 1 problem in ", verify.OutLines.Last(l => l.Length > 0), StringComparison.Ordinal);
        using (var json = (await _cli.RunAsync("audit", "verify", "--json")).Json())
        {
            Assert.False(json.RootElement.GetProperty("intact").GetBoolean());
            var problem = Assert.Single(json.RootElement.GetProperty("problems").EnumerateArray());
            Assert.Equal("rewritten", problem.GetProperty("kind").GetString());
            Assert.Equal(head.Position, problem.GetProperty("through").GetInt64());
            Assert.Equal(head.Position, json.RootElement.GetProperty("head").GetProperty("position").GetInt64());
        }

        // A server will not serve it, and says what is wrong and how to go on.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(TimeSpan.FromMinutes(2));
        var refused = await _cli.RunWithErrorAsync(new StringWriter(), "", limit.Token, "up", "--urls", "http://127.0.0.1:0", "--unconfined");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("does not match its signed checkpoints, so this server will not serve it", refused.Error, StringComparison.Ordinal);
        Assert.Contains($"  rewritten at position {head.Position}: the chain does not have the hash signed in the newest checkpoint", refused.Error, StringComparison.Ordinal);
        Assert.Contains("'apiary up --accept-damaged-log'", refused.Error, StringComparison.Ordinal);

        // With the flag it serves; the acceptance is on record, so the log verifies from then on.
        using var up = new LineSignal("Apiary is up at ");
        using var error = new StringWriter();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var running = _cli.RunWithWritersAsync(up, TextWriter.Synchronized(error), "", stop.Token, "up", "--urls", "http://127.0.0.1:0", "--unconfined", "--accept-damaged-log");
        await up.Seen.WaitAsync(TimeSpan.FromMinutes(2), ct);
        var accepted = await _cli.RunAsync("audit", "verify");
        Assert.True(accepted.ExitCode == 0, accepted.ToString());
        Assert.Contains(accepted.OutLines, l => l.StartsWith($"accepted: damage up to position {head.Position + 1}, by {Environment.UserName} (pid ", StringComparison.Ordinal) && l.Contains("(1 problem, recorded at position", StringComparison.Ordinal));
        await stop.CancelAsync();
        Assert.Equal(0, (await running).ExitCode);
        Assert.Contains("accepted the damaged event log", error.ToString(), StringComparison.Ordinal);
    }
}
