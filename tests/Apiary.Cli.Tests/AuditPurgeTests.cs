using System.Text;
using Apiary.Events;
using Apiary.Storage.Sqlite;
using Apiary.Testing;

namespace Apiary.Cli.Tests;

public sealed class AuditPurgeTests : IDisposable
{
    private readonly CliRunner _cli = new();

    private string StorePath => Path.Combine(_cli.HomeRoot, "events.db");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task AuditPurge_OlderThan_PurgesOldBodiesKeepsRecentOnesAndChainVerifies()
    {
        await _cli.InitAsync();
        await RecordAsync();
        var before = await ReadAllAsync();

        var result = await _cli.RunAsync("audit", "purge", "--older-than", "30d");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(
            @"^purged the bodies of 2 events older than \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(30d\); the audit skeleton and hash chain are kept$",
            result.OutLines[0]);
        var after = await ReadAllAsync();
        Assert.Equal([null, null, null, "recent output", null], after.Select(BodyText));
        for (var i = 0; i < before.Count; i++)
        {
            Assert.True(before[i].Data.Span.SequenceEqual(after[i].Data.Span));
            Assert.True(before[i].Hash.Span.SequenceEqual(after[i].Hash.Span));
        }

        // The purge is recorded in the log, so verification knows those bodies were purged, not removed.
        Assert.Equal(AuditEvents.BodiesPurged, after[^1].Type);
        var verified = await _cli.RunAsync("audit", "verify");
        Assert.True(verified.ExitCode == 0, verified.ToString());
        Assert.Equal("intact: 5 events", verified.OutLines[0]);

        // A body removed by hand is not.
        await LogTamper.NullBodyAsync(StorePath, 4);
        var removed = await _cli.RunAsync("audit", "verify");
        Assert.Equal(1, removed.ExitCode);
        Assert.StartsWith("body removed at position 4: the body of this proposal.completed (committed ", removed.OutLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuditPurge_DryRun_ReportsCountAndChangesNothing()
    {
        await _cli.InitAsync();
        await RecordAsync();

        var text = await _cli.RunAsync("audit", "purge", "--older-than", "30d", "--dry-run");
        using var json = (await _cli.RunAsync("audit", "purge", "--older-than", "30d", "--dry-run", "--json")).Json();

        Assert.True(text.ExitCode == 0, text.ToString());
        Assert.StartsWith("would purge the bodies of 2 events older than ", text.OutLines[0], StringComparison.Ordinal);
        Assert.EndsWith("(30d); nothing was changed (--dry-run)", text.OutLines[0], StringComparison.Ordinal);
        Assert.True(json.RootElement.GetProperty("dry_run").GetBoolean());
        Assert.Equal(2, json.RootElement.GetProperty("bodies").GetInt64());
        Assert.Equal("30d", json.RootElement.GetProperty("older_than").GetString());
        Assert.Equal("command_line", json.RootElement.GetProperty("source").GetString());
        Assert.Equal(["old output 1", "old output 2", null, "recent output"], (await ReadAllAsync()).Select(BodyText));
    }

    [Fact]
    public async Task AuditPurge_NoOlderThanAndNoRetention_BadInputNamingBothWays()
    {
        await _cli.InitAsync();
        await File.WriteAllTextAsync(Path.Combine(_cli.HomeRoot, "apiary.yaml"), "prompt:\n  total_chars: 5000\n", Ct);
        await RecordAsync();

        var result = await _cli.RunAsync("audit", "purge");

        Assert.Equal(2, result.ExitCode);
        Assert.Empty(result.Out);
        var error = Assert.Single(result.ErrorLines);
        Assert.Contains("pass --older-than", error, StringComparison.Ordinal);
        Assert.Contains("set retention.bodies in", error, StringComparison.Ordinal);
        Assert.Equal(["old output 1", "old output 2", null, "recent output"], (await ReadAllAsync()).Select(BodyText));
    }

    [Fact]
    public async Task AuditPurge_NoOlderThan_UsesRetentionBodiesFromApiaryYaml()
    {
        await _cli.InitAsync();
        await File.WriteAllTextAsync(Path.Combine(_cli.HomeRoot, "apiary.yaml"), "retention:\n  bodies: 30d\n", Ct);
        await RecordAsync();

        var result = await _cli.RunAsync("audit", "purge");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith("purged the bodies of 2 events older than ", result.OutLines[0], StringComparison.Ordinal);
        Assert.Contains("(retention.bodies: 30d)", result.OutLines[0], StringComparison.Ordinal);
        Assert.Equal([null, null, null, "recent output", null], (await ReadAllAsync()).Select(BodyText));
    }

    [Fact]
    public async Task AuditPurge_OlderThanGiven_OverridesRetentionBodies()
    {
        await _cli.InitAsync();
        await File.WriteAllTextAsync(Path.Combine(_cli.HomeRoot, "apiary.yaml"), "retention:\n  bodies: 1h\n", Ct);
        await RecordAsync();

        using var json = (await _cli.RunAsync("audit", "purge", "--older-than", "90d", "--json")).Json();

        Assert.False(json.RootElement.GetProperty("dry_run").GetBoolean());
        Assert.Equal(0, json.RootElement.GetProperty("bodies").GetInt64());
        Assert.Equal("90d", json.RootElement.GetProperty("older_than").GetString());
        Assert.Equal(["old output 1", "old output 2", null, "recent output"], (await ReadAllAsync()).Select(BodyText));
    }

    [Fact]
    public async Task AuditPurge_FreshHome_UsesTheSampleRetention()
    {
        await _cli.InitAsync();

        using var json = (await _cli.RunAsync("audit", "purge", "--dry-run", "--json")).Json();

        Assert.Equal("90d", json.RootElement.GetProperty("older_than").GetString());
        Assert.Equal("home_config", json.RootElement.GetProperty("source").GetString());
        Assert.Equal(0, json.RootElement.GetProperty("bodies").GetInt64());

        // An absent log has no bodies; purging does not create one.
        Assert.False(File.Exists(StorePath));
    }

    [Theory]
    [InlineData("30 days")]
    [InlineData("30")]
    [InlineData("0s")]
    public async Task AuditPurge_InvalidOlderThan_BadInput(string value)
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("audit", "purge", "--older-than", value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--older-than must be a duration with units", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuditPurge_InvalidRetentionInApiaryYaml_FailsWithFileLineColumn()
    {
        await _cli.InitAsync();
        var config = Path.Combine(_cli.HomeRoot, "apiary.yaml");
        await File.WriteAllTextAsync(config, "retention:\n  bodies: forever\n", Ct);

        var result = await _cli.RunAsync("audit", "purge");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"{config}:2:11: error: 'retention.bodies' must be a duration", result.ErrorLines[0], StringComparison.Ordinal);
    }

    /// <summary>
    /// Records two events with bodies 60 days ago, one without a body 59 days ago, and one with a body a day ago, each
    /// stamped by a clock set back from now.
    /// </summary>
    private async Task RecordAsync()
    {
        var clock = new ManualClock(DateTimeOffset.UtcNow - TimeSpan.FromDays(60));
        await using var store = await SqliteEventStore.OpenAsync(StorePath, new SqliteEventStoreOptions { TimeProvider = clock }, Ct);
        await store.AppendAsync("session-1", ExpectedVersion.Any, [Completed(1, "old output 1"), Completed(2, "old output 2")], Ct);
        clock.Advance(TimeSpan.FromDays(1));
        await store.AppendAsync("session-1", ExpectedVersion.Any, [new EventData("proposal.decided", Encoding.UTF8.GetBytes("{\"decision\":\"allow\"}"))], Ct);
        clock.Advance(TimeSpan.FromDays(58));
        await store.AppendAsync("session-2", ExpectedVersion.Any, [Completed(3, "recent output")], Ct);
    }

    private async Task<List<RecordedEvent>> ReadAllAsync()
    {
        await using var store = await SqliteEventStore.OpenAsync(StorePath, cancellationToken: Ct);
        var events = new List<RecordedEvent>();
        await foreach (var e in store.ReadAllAsync(cancellationToken: Ct))
        {
            events.Add(e);
        }

        return events;
    }

    private static EventData Completed(int proposal, string output) =>
        new("proposal.completed", Encoding.UTF8.GetBytes($"{{\"proposal\":{proposal},\"exit_code\":0}}"), Encoding.UTF8.GetBytes(output));

    private static string? BodyText(RecordedEvent e) => e.Body is { } body ? Encoding.UTF8.GetString(body.Span) : null;
}
