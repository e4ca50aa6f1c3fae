using System.Text.Json;
using Apiary.Cli.Commands;
using Apiary.Client;
using Apiary.Contracts;

namespace Apiary.Cli.Tests;

public sealed class EventsCommandTests : IDisposable
{
    private readonly CliRunner _cli = new();

    [Fact]
    public void Summary_AQuotedValue_ShowsApostrophesAsTheyAre()
    {
        using var data = JsonDocument.Parse("""{"reason":"it's late, don't","by":"operator"}""");

        var summary = EventsCommand.Summary(data.RootElement);

        Assert.Contains("reason=\"it's late, don't\"", summary, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u0027", summary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_NoServerRunning_SaysHowToStartOne()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("events");

        Assert.Equal(ExitCodes.Failure, result.ExitCode);
        Assert.Contains($"no Apiary server is running for home {_cli.HomeRoot}; start one with 'apiary up --home {_cli.HomeRoot}'", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Events_ServerFileButNothingListening_SaysItDoesNotAnswer()
    {
        await _cli.InitAsync();
        _cli.Scratch.Write("home/run/server.json", """{"url":"http://127.0.0.1:9","pid":1,"started_at":"2026-01-01T00:00:00Z","home":"x"}""");
        _cli.Scratch.Write("home/keys/operator.token", "secret\n");

        var result = await _cli.RunAsync("events", "--follow");

        Assert.Equal(ExitCodes.Failure, result.ExitCode);
        Assert.Contains("no Apiary server is running for home", result.Error, StringComparison.Ordinal);
        Assert.Contains("does not answer", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_FromZero_IsBadInput()
    {
        var result = await _cli.RunAsync("events", "--from", "0");

        Assert.Equal(ExitCodes.BadInput, result.ExitCode);
        Assert.Contains("--from", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Format_Text_ShowsPositionTimeStreamTypeAndTellingFieldsFirst()
    {
        var e = Event("""{"zeta":1,"rule":"deny-rm-root","agent":"coder","decision":"deny","reason":"never allowed","nested":{"x":1}}""");

        var line = EventsCommand.Format(e, json: false);

        Assert.Equal("    42  2026-01-02 03:04:05.678Z  session-s1  proposal.decided  agent=coder decision=deny rule=deny-rm-root reason=\"never allowed\" zeta=1", line);
    }

    [Fact]
    public void Format_Json_IsOneLineOfTheApiShape()
    {
        var line = EventsCommand.Format(Event("""{"agent":"coder"}"""), json: true);

        Assert.DoesNotContain('\n', line);
        using var doc = JsonDocument.Parse(line);
        Assert.Equal(42, doc.RootElement.GetProperty("position").GetInt64());
        Assert.Equal("proposal.decided", doc.RootElement.GetProperty("type").GetString());
        Assert.Equal("coder", doc.RootElement.GetProperty("data").GetProperty("agent").GetString());
    }

    [Fact]
    public void Summary_LongData_IsCutToOneLine()
    {
        var summary = EventsCommand.Summary(JsonDocument.Parse($$"""{"command_line":"{{new string('x', 400)}}"}""").RootElement);

        Assert.Equal(160, summary.Length);
        Assert.EndsWith("…", summary, StringComparison.Ordinal);
    }

    public void Dispose() => _cli.Dispose();

    private static EventDto Event(string data) =>
        new(42, "session-s1", 3, "proposal.decided", new DateTimeOffset(2026, 1, 2, 3, 4, 5, 678, TimeSpan.Zero), JsonDocument.Parse(data).RootElement.Clone(), false);
}
