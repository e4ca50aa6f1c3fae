namespace Apiary.Cli.Tests;

/// <summary><c>apiary send</c> and <c>apiary inbox</c> through the server running on the home.</summary>
public sealed class MessagesCommandTests : IAsyncDisposable
{
    private readonly CliRunner _cli = new();

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

    [Fact]
    public async Task SendThenInbox_AgentsInbox_ShownFromTheOperatorAndAcknowledged()
    {
        await _cli.InitAndStartServerAsync();

        var sent = await _cli.RunAsync("send", "coder", "please run the tests", "--thread", "t-tests");
        using (var inbox = (await _cli.RunAsync("inbox", "--agent", "coder", "--json")).Json())
        {
            var only = Assert.Single(inbox.RootElement.GetProperty("messages").EnumerateArray());
            Assert.Equal("operator", only.GetProperty("from").GetString());
            Assert.Equal("operator", only.GetProperty("role").GetString());
            Assert.Equal("t-tests", only.GetProperty("thread").GetString());
            Assert.Equal("please run the tests", only.GetProperty("body").GetString());
            Assert.Equal(1, only.GetProperty("seq").GetInt64());
        }

        var again = await _cli.RunAsync("inbox", "--agent", "coder");

        Assert.True(sent.ExitCode == 0, sent.ToString());
        Assert.StartsWith("sent: message ", sent.Out, StringComparison.Ordinal);
        Assert.Contains("to coder (seq 1) on thread t-tests", sent.Out, StringComparison.Ordinal);
        Assert.Equal("no messages for coder\n", again.Out);
    }

    [Fact]
    public async Task Inbox_Peek_ShowsAgainUntilAcknowledged()
    {
        await _cli.InitAndStartServerAsync();
        Assert.Equal(0, (await _cli.RunAsync("send", "operator", "note to self")).ExitCode);

        var peeked = await _cli.RunAsync("inbox", "--peek");
        var shown = await _cli.RunAsync("inbox", "--wait", "1");
        var empty = await _cli.RunAsync("inbox");

        Assert.Contains("#1 from operator (operator) on thread", peeked.Out, StringComparison.Ordinal);
        Assert.Contains("  note to self", shown.Out, StringComparison.Ordinal);
        Assert.Equal("no messages for operator\n", empty.Out);
    }

    [Fact]
    public async Task Send_UnknownAgent_FailsWithWhatToDo()
    {
        await _cli.InitAndStartServerAsync();

        var result = await _cli.RunAsync("send", "nobody", "hello");

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("there is no agent named 'nobody'", result.Error, StringComparison.Ordinal);
    }
}
