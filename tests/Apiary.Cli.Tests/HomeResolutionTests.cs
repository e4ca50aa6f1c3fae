using Apiary.Home;

namespace Apiary.Cli.Tests;

public sealed class HomeResolutionTests : IDisposable
{
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    private string OptionHome => _cli.Scratch["option-home"];

    private string EnvironmentHome => _cli.HomeRoot;

    private string LocalHome => Path.Combine(_cli.CurrentDirectory, ApiaryHome.FolderName);

    private string UserDefaultHome => Path.Combine(_cli.UserHome, ApiaryHome.FolderName);

    [Fact]
    public async Task Home_OptionAndEnvironment_OptionWins()
    {
        await InitAllAsync();

        var home = await HomeInUseAsync("--home", OptionHome);

        Assert.Equal(OptionHome, home);
    }

    [Fact]
    public async Task Home_OptionAfterSubcommand_IsHonoured()
    {
        await InitAllAsync();

        var result = await _cli.RunAsync("doctor", "--json", "--home", OptionHome);

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        Assert.Equal(OptionHome, json.RootElement.GetProperty("home").GetString());
    }

    [Fact]
    public async Task Home_OptionBeforeSubcommand_IsHonoured()
    {
        await InitAllAsync();

        var result = await _cli.RunAsync("--home", OptionHome, "doctor", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        Assert.Equal(OptionHome, json.RootElement.GetProperty("home").GetString());
    }

    [Fact]
    public async Task Home_RelativeEnvironmentVariable_ResolvesAgainstCurrentDirectory()
    {
        _cli.Environment[ApiaryHome.EnvironmentVariable] = "env-relative";

        var result = await _cli.RunAsync("init", "--json");

        Assert.Equal(0, result.ExitCode);
        var expected = Path.Combine(_cli.CurrentDirectory, "env-relative");
        using var json = result.Json();
        Assert.Equal(expected, json.RootElement.GetProperty("home").GetString());
        Assert.True(Directory.Exists(Path.Combine(expected, "agents")));
    }

    [Fact]
    public async Task Home_EnvironmentAndLocalFolder_EnvironmentWins()
    {
        await InitAllAsync();

        var home = await HomeInUseAsync();

        Assert.Equal(EnvironmentHome, home);
    }

    [Fact]
    public async Task Home_LocalFolderAndUserHome_LocalFolderWins()
    {
        await InitAllAsync();
        _cli.Environment.Remove(ApiaryHome.EnvironmentVariable);

        var home = await HomeInUseAsync();

        Assert.Equal(LocalHome, home);
    }

    [Fact]
    public async Task Home_BlankEnvironmentVariable_IsIgnored()
    {
        await InitAllAsync();
        _cli.Environment[ApiaryHome.EnvironmentVariable] = "  ";

        var home = await HomeInUseAsync();

        Assert.Equal(LocalHome, home);
    }

    [Fact]
    public async Task Home_NoLocalFolder_UsesUserHome()
    {
        await InitAllAsync();
        _cli.Environment.Remove(ApiaryHome.EnvironmentVariable);
        Directory.Delete(LocalHome, recursive: true);

        var home = await HomeInUseAsync();

        Assert.Equal(UserDefaultHome, home);
    }

    [Fact]
    public async Task Init_NothingConfigured_CreatesHomeInUserHome()
    {
        _cli.Environment.Remove(ApiaryHome.EnvironmentVariable);

        var result = await _cli.RunAsync("init", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        Assert.Equal(UserDefaultHome, json.RootElement.GetProperty("home").GetString());
        Assert.True(Directory.Exists(Path.Combine(UserDefaultHome, "agents", "coder")));
        Assert.False(Directory.Exists(LocalHome));
    }

    [Fact]
    public async Task Home_RelativeOption_ResolvesAgainstCurrentDirectory()
    {
        var result = await _cli.RunAsync("init", "--json", "--home", "relative-home");

        Assert.Equal(0, result.ExitCode);
        var expected = Path.Combine(_cli.CurrentDirectory, "relative-home");
        using var json = result.Json();
        Assert.Equal(expected, json.RootElement.GetProperty("home").GetString());
        Assert.True(Directory.Exists(Path.Combine(expected, "agents")));
    }

    [Fact]
    public async Task Home_TildeOption_ExpandsToUserHome()
    {
        var result = await _cli.RunAsync("init", "--json", "--home", "~/hive");

        Assert.Equal(0, result.ExitCode);
        var expected = Path.Combine(_cli.UserHome, "hive");
        using var json = result.Json();
        Assert.Equal(expected, json.RootElement.GetProperty("home").GetString());
        Assert.True(Directory.Exists(Path.Combine(expected, "agents")));
    }

    [Fact]
    public async Task AgentsList_NoHome_FailsAndSuggestsInit()
    {
        var result = await _cli.RunAsync("agents", "list");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("apiary init", result.Error, StringComparison.Ordinal);
        Assert.Contains(_cli.HomeRoot, result.Error, StringComparison.Ordinal);
        Assert.Contains("$APIARY_HOME", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Theory]
    [InlineData("show")]
    [InlineData("prompt")]
    [InlineData("new")]
    public async Task AgentsCommand_NoHome_FailsAndSuggestsInit(string command)
    {
        _cli.Environment.Remove(ApiaryHome.EnvironmentVariable);

        var result = await _cli.RunAsync("agents", command, "coder");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("apiary init", result.Error, StringComparison.Ordinal);
        Assert.Contains(UserDefaultHome, result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(UserDefaultHome), "a command other than init must not create a home");
    }

    /// <summary>Creates a home in each place one can be found: --home, $APIARY_HOME, ./.apiary and ~/.apiary.</summary>
    private async Task InitAllAsync()
    {
        foreach (var home in new[] { OptionHome, EnvironmentHome, LocalHome, UserDefaultHome })
        {
            var result = await _cli.RunAsync("init", "--home", home);
            Assert.True(result.ExitCode == 0, result.ToString());
        }
    }

    /// <summary>The home that <c>doctor</c> (a command that works on the home's files) reports with <paramref name="options"/>.</summary>
    private async Task<string?> HomeInUseAsync(params string[] options)
    {
        var result = await _cli.RunAsync(["doctor", "--json", .. options]);
        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = result.Json();
        return json.RootElement.GetProperty("home").GetString();
    }
}
