namespace Apiary.Cli.Tests;

public sealed class CommandLineErrorTests : IDisposable
{
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [Theory]
    [InlineData(new[] { "frob" }, "'frob'", "apiary --help")]
    [InlineData(new[] { "agents", "frob" }, "'frob'", "apiary agents --help")]
    [InlineData(new[] { "agents", "list", "--frob" }, "'--frob'", "apiary agents list --help")]
    [InlineData(new[] { "init", "--frob" }, "'--frob'", "apiary init --help")]
    [InlineData(new[] { "agents", "show", "coder", "--frob" }, "'--frob'", "apiary agents show --help")]
    [InlineData(new[] { "agents", "prompt", "coder", "extra" }, "'extra'", "apiary agents prompt --help")]
    public async Task Run_UnknownCommandOrOption_IsBadInputWithHelpHint(string[] args, string named, string hint)
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync(args);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(result.ErrorLines, l => l.StartsWith("apiary: ", StringComparison.Ordinal) && l.Contains(named, StringComparison.Ordinal));
        Assert.Contains($"Run '{hint}' for usage.", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Run_NoCommand_IsBadInputWithHelpHint()
    {
        var result = await _cli.RunAsync();

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--help", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_UnknownOption_HasNoSideEffects()
    {
        var result = await _cli.RunAsync("init", "--frob");

        Assert.Equal(2, result.ExitCode);
        Assert.False(Directory.Exists(_cli.HomeRoot), "a command that failed to parse must not run");
    }

    [Theory]
    [InlineData("*")]
    [InlineData("*.example.org")]
    [InlineData("http://apiary.example.org")]
    [InlineData("apiary.example.org:99999")]
    public async Task Up_AnInvalidAllowedHost_IsBadInputAndStartsNothing(string host)
    {
        var result = await _cli.RunAsync("up", "--urls", "http://127.0.0.1:0", "--allowed-host", host);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(result.ErrorLines, l => l.StartsWith("apiary: --allowed-host: ", StringComparison.Ordinal));
        Assert.False(Directory.Exists(_cli.HomeRoot), "no home is created for a server that does not start");
    }

    [Fact]
    public async Task Run_OptionMissingItsValue_IsBadInput()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("agents", "show", "coder", "--model");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--model", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_AgentsPrompt_DescribesUsageAndOptions()
    {
        var result = await _cli.RunAsync("agents", "prompt", "--help");

        Assert.Equal(0, result.ExitCode);
        // In-process the root is named after the test host, so only the part after it is checked here.
        Assert.Contains(" agents prompt <name> [options]", result.Out, StringComparison.Ordinal);
        Assert.Contains("--section-chars", result.Out, StringComparison.Ordinal);
        Assert.Contains("--total-chars", result.Out, StringComparison.Ordinal);
        Assert.Contains("--home", result.Out, StringComparison.Ordinal);
        Assert.Equal("", result.Error);
    }

    [Fact]
    public async Task Help_Root_ListsCommands()
    {
        var result = await _cli.RunAsync("--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("init", result.Out, StringComparison.Ordinal);
        Assert.Contains("agents", result.Out, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_cli.HomeRoot), "--help must not create a home");
    }
}
