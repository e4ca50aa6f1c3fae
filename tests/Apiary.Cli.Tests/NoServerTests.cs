namespace Apiary.Cli.Tests;

/// <summary>The commands that act through the server say so, and exit 1, when none runs for the home.</summary>
public sealed class NoServerTests : IDisposable
{
    private const string Ticket = "0123456789abcdef0123456789abcdef";

    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    public static TheoryData<string[]> Commands() => new(
        ["exec", "--", "echo", "hi"],
        ["exec", "--agent", "coder", "--", "echo", "hi"],
        ["approvals", "list"],
        ["approvals", "approve", Ticket],
        ["approvals", "deny", Ticket, "--reason", "no"],
        ["kill", "engage", "--reason", "incident"],
        ["kill", "release"],
        ["kill", "status"],
        ["explain", Ticket],
        ["agents", "list"],
        ["agents", "show", "coder"],
        ["agents", "new", "reviewer"]);

    [Theory]
    [MemberData(nameof(Commands))]
    public async Task Command_NoServerRunning_Exits1NamingTheFix(string[] args)
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync(args);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"no Apiary server is running for home {_cli.HomeRoot}; start one with 'apiary up --home {_cli.HomeRoot}'", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }
}
