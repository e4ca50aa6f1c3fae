namespace Apiary.Cli.Tests;

/// <summary><c>apiary agents stats</c> against a running server (the figures themselves are tested in the server's AgentStatsTests).</summary>
public sealed class AgentsStatsCommandTests : IAsyncDisposable
{
    private readonly CliRunner _cli = new();

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

    [Fact]
    public async Task Stats_AgentWithoutRuns_ShowsZeroTurns()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "stats", "coder");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"^agent\s+coder\s*$", result.Row("agent"));
        Assert.Matches(@"^turns\s+0\s*$", result.Row("turns"));
        Assert.Matches(@"^tool_calls\s+0\s*$", result.Row("tool_calls"));
        Assert.Matches(@"^duration_ms\s+p50 0, p95 0, max 0\s*$", result.Row("duration_ms"));
    }

    [Fact]
    public async Task Stats_JsonWithSince_PrintsTheServersAnswer()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "stats", "coder", "--since", "7d", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = result.Json();
        var root = json.RootElement;
        Assert.Equal("coder", root.GetProperty("agent").GetString());
        Assert.Equal(TimeSpan.FromDays(7), root.GetProperty("until").GetDateTimeOffset() - root.GetProperty("since").GetDateTimeOffset());
        Assert.Equal(0, root.GetProperty("series").GetArrayLength());
        Assert.False(root.GetProperty("truncated").GetBoolean());
    }

    [Fact]
    public async Task Stats_BadSince_Exit2SaysWhatIsAccepted()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "stats", "coder", "--since", "lately");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("ISO-8601", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_UnknownAgent_Exit2()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "stats", "nobody");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no agent named 'nobody'", result.Error, StringComparison.Ordinal);
    }
}
