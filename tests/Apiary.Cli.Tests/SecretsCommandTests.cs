using System.Diagnostics;
using Apiary.Home;
using Apiary.Secrets;

namespace Apiary.Cli.Tests;

public sealed class SecretsCommandTests : IDisposable
{
    // Distinctive enough that finding it in any output can only mean a leak.
    private const string Value = "sk-live-CANARY-5d1e8b7a";

    private readonly CliRunner _cli = new();
    private readonly List<CliResult> _results = [];

    public void Dispose() => _cli.Dispose();

    private FileSecretStore Store => new(new ApiaryHome(_cli.HomeRoot, _cli.UserHome));

    [Fact]
    public async Task Set_ValueOnStdin_StoresItWithoutTheTrailingNewline()
    {
        await _cli.InitAsync();

        var result = await RunAsync(Value + "\n", "secrets", "set", "API_KEY");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(Value, await Store.GetAsync("API_KEY", TestContext.Current.CancellationToken));
        Assert.Contains("Set secret API_KEY", result.Out, StringComparison.Ordinal);
        AssertValueNeverShown();
    }

    [Theory]
    [InlineData("value", "value")]
    [InlineData("value\n", "value")]
    [InlineData("value\r\n", "value")]
    [InlineData("value\n\n", "value\n")]
    [InlineData("-----BEGIN KEY-----\nabc\n-----END KEY-----\n", "-----BEGIN KEY-----\nabc\n-----END KEY-----")]
    [InlineData("  spaced  \n", "  spaced  ")]
    public async Task Set_Stdin_DropsExactlyOneTrailingNewline(string stdin, string stored)
    {
        await _cli.InitAsync();

        var result = await RunAsync(stdin, "secrets", "set", "PEM");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(stored, await Store.GetAsync("PEM", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Set_Twice_SaysReplacedAndKeepsTheNewValue()
    {
        await _cli.InitAsync();
        await RunAsync("old\n", "secrets", "set", "API_KEY");

        var result = await RunAsync(Value + "\n", "secrets", "set", "API_KEY");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Replaced secret API_KEY", result.Out, StringComparison.Ordinal);
        Assert.Equal(Value, await Store.GetAsync("API_KEY", TestContext.Current.CancellationToken));
        AssertValueNeverShown();
    }

    [Theory]
    [InlineData("")]
    [InlineData("\n")]
    [InlineData("\r\n")]
    public async Task Set_EmptyValue_IsBadInputAndStoresNothing(string stdin)
    {
        await _cli.InitAsync();

        var result = await RunAsync(stdin, "secrets", "set", "API_KEY");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("empty value", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
        Assert.Empty(await Store.ListAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Set_ValueTooLarge_IsBadInputAndStoresNothing()
    {
        await _cli.InitAsync();

        var result = await RunAsync(new string('x', FileSecretStore.MaxValueBytes + 1), "secrets", "set", "BIG");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("64 KiB", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("xxxx", result.Error, StringComparison.Ordinal);
        Assert.Empty(await Store.ListAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Set_ValueAtTheLimitWithNewline_IsKept()
    {
        await _cli.InitAsync();
        var value = new string('x', FileSecretStore.MaxValueBytes);

        var result = await RunAsync(value + "\r\n", "secrets", "set", "BIG");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(value, await Store.GetAsync("BIG", TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("API-KEY")]
    [InlineData("1ST")]
    [InlineData("../keys/secrets")]
    [InlineData("")]
    public async Task Set_InvalidName_IsBadInputAndTouchesNothing(string name)
    {
        await _cli.InitAsync();

        var result = await RunAsync(Value + "\n", "secrets", "set", name);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("like an environment variable name", result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Store.SecretsDirectory));
        Assert.False(Directory.Exists(Store.KeysDirectory));
        AssertValueNeverShown();
    }

    [Fact]
    public async Task Set_ValueTypedAsTheName_IsNotPrintedBack()
    {
        await _cli.InitAsync();

        var result = await RunAsync("", "secrets", "set", Value);

        Assert.Equal(2, result.ExitCode);
        AssertValueNeverShown();
    }

    [Theory]
    [InlineData("secrets", "set", "API_KEY", Value)]
    [InlineData("secrets", "set", "API_KEY", "--value", Value)]
    [InlineData("secrets", "set", "API_KEY", "--value=" + Value)]
    [InlineData("secrets", "set", "--value", Value, "API_KEY")]
    [InlineData("secrets", "set", "API_KEY", "--", Value)]
    public async Task Set_ValueOnTheCommandLine_IsRefusedWithoutEchoingIt(params string[] args)
    {
        await _cli.InitAsync();

        var result = await RunAsync("from-stdin\n", args);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("standard input", result.Error, StringComparison.Ordinal);
        Assert.Empty(await Store.ListAsync(TestContext.Current.CancellationToken));
        AssertValueNeverShown();
    }

    [Fact]
    public async Task Set_NoHome_IsFailureWithTheFix()
    {
        var result = await RunAsync(Value + "\n", "secrets", "set", "API_KEY");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("apiary init", result.Error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(_cli.HomeRoot));
        AssertValueNeverShown();
    }

    [Fact]
    public async Task List_SeveralSecrets_ShowsSortedNamesOnly()
    {
        await _cli.InitAsync();
        await RunAsync(Value + "-b\n", "secrets", "set", "B_TOKEN");
        await RunAsync(Value + "-a\n", "secrets", "set", "A_TOKEN");

        var result = await RunAsync("", "secrets", "list");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["A_TOKEN", "B_TOKEN", ""], result.OutLines);
        Assert.Equal("", result.Error);
        AssertValueNeverShown();
    }

    [Fact]
    public async Task List_Json_HasNamesAndNoValues()
    {
        await _cli.InitAsync();
        await RunAsync(Value + "\n", "secrets", "set", "API_KEY");
        await RunAsync(Value + "\n", "secrets", "set", "DB_PASSWORD");

        var result = await RunAsync("", "secrets", "list", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        Assert.Equal(_cli.HomeRoot, json.RootElement.GetProperty("home").GetString());
        var secrets = json.RootElement.GetProperty("secrets").EnumerateArray().ToList();
        Assert.Equal(["API_KEY", "DB_PASSWORD"], secrets.Select(s => s.GetProperty("name").GetString()));
        Assert.All(secrets, s => Assert.Equal(["name"], s.EnumerateObject().Select(p => p.Name)));
        AssertValueNeverShown();
    }

    [Fact]
    public async Task List_NoSecrets_SaysHowToSetOne()
    {
        await _cli.InitAsync();

        var text = await RunAsync("", "secrets", "list");
        var json = await RunAsync("", "secrets", "list", "--json");

        Assert.Equal(0, text.ExitCode);
        Assert.Contains("apiary secrets set NAME", text.Out, StringComparison.Ordinal);
        using var document = json.Json();
        Assert.Empty(document.RootElement.GetProperty("secrets").EnumerateArray());
    }

    [Fact]
    public async Task Rm_Existing_RemovesIt()
    {
        await _cli.InitAsync();
        await RunAsync(Value + "\n", "secrets", "set", "API_KEY");
        await RunAsync("kept\n", "secrets", "set", "OTHER");

        var result = await RunAsync("", "secrets", "rm", "API_KEY");
        var list = await RunAsync("", "secrets", "list");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Removed secret API_KEY", result.Out, StringComparison.Ordinal);
        Assert.Equal(["OTHER", ""], list.OutLines);
        Assert.Null(await Store.GetAsync("API_KEY", TestContext.Current.CancellationToken));
        AssertValueNeverShown();
    }

    [Fact]
    public async Task Rm_Unknown_IsBadInput()
    {
        await _cli.InitAsync();

        var result = await RunAsync("", "secrets", "rm", "NEVER_SET");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no secret named NEVER_SET", result.Error, StringComparison.Ordinal);
        Assert.Contains("apiary secrets list", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rm_InvalidName_IsBadInput()
    {
        await _cli.InitAsync();

        var result = await RunAsync("", "secrets", "rm", "../keys/secrets");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("like an environment variable name", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ValueFileTampered_ListAndRmStillWork()
    {
        await _cli.InitAsync();
        await RunAsync(Value + "\n", "secrets", "set", "API_KEY");
        var path = Store.FileOf("API_KEY");
        var bytes = await File.ReadAllBytesAsync(path, TestContext.Current.CancellationToken);
        bytes[^1] ^= 0xFF;
        await File.WriteAllBytesAsync(path, bytes, TestContext.Current.CancellationToken);

        var list = await RunAsync("", "secrets", "list");
        var rm = await RunAsync("", "secrets", "rm", "API_KEY");

        Assert.Equal(0, list.ExitCode);
        Assert.Equal(0, rm.ExitCode);
        Assert.False(File.Exists(path));
        AssertValueNeverShown();
    }

    [Fact]
    public async Task Help_Secrets_ListsTheCommandsAndSaysValuesComeFromStdin()
    {
        var secrets = await RunAsync("", "secrets", "--help");
        var set = await RunAsync("", "secrets", "set", "--help");

        Assert.Equal(0, secrets.ExitCode);
        foreach (var command in new[] { "set", "list", "rm" })
        {
            Assert.Contains(command, secrets.Out, StringComparison.Ordinal);
        }

        Assert.Equal(0, set.ExitCode);
        Assert.Contains("standard input", set.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Program_ValuePipedIn_IsStoredAndNeverPrinted()
    {
        await _cli.InitAsync();

        var set = await RunProgramAsync(Value + "\n", "secrets", "set", "API_KEY");
        var list = await RunProgramAsync("", "secrets", "list");

        Assert.True(set.ExitCode == 0, set.ToString());
        Assert.Equal(Value, await Store.GetAsync("API_KEY", TestContext.Current.CancellationToken));
        Assert.Equal("API_KEY", list.Out.Trim());
        AssertValueNeverShown();
    }

    /// <summary>Runs <c>apiary</c> in-process with <paramref name="stdin"/> as its standard input.</summary>
    private async Task<CliResult> RunAsync(string stdin, params string[] args)
    {
        using var input = new StringReader(stdin);
        using var output = new StringWriter();
        using var error = new StringWriter();
        var context = new CliContext
        {
            In = input,
            Out = output,
            Error = error,
            GetEnvironmentVariable = name => _cli.Environment.TryGetValue(name, out var value) ? value : null,
            CurrentDirectory = _cli.CurrentDirectory,
            UserHome = _cli.UserHome,
        };
        var exitCode = await ApiaryCli.RunAsync(args, context, TestContext.Current.CancellationToken);
        var result = new CliResult(exitCode, output.ToString(), error.ToString());
        _results.Add(result);
        return result;
    }

    /// <summary>Runs the real program as a child process with <paramref name="stdin"/> piped in, as a shell would.</summary>
    private async Task<CliResult> RunProgramAsync(string stdin, params string[] args)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet")
        {
            WorkingDirectory = _cli.CurrentDirectory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ProgramProcess.ProgramPath);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["HOME"] = _cli.UserHome;
        start.Environment["APIARY_HOME"] = _cli.HomeRoot;
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.StandardInput.WriteAsync(stdin.AsMemory(), timeout.Token);
        process.StandardInput.Close();
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var result = new CliResult(process.ExitCode, await output, await error);
        _results.Add(result);
        return result;
    }

    /// <summary>No command run by the test printed the value, or any recognisable part of it, on stdout or stderr.</summary>
    private void AssertValueNeverShown()
    {
        Assert.NotEmpty(_results);
        foreach (var result in _results)
        {
            Assert.False(result.Out.Contains("CANARY", StringComparison.Ordinal), $"stdout shows the value:\n{result}");
            Assert.False(result.Error.Contains("CANARY", StringComparison.Ordinal), $"stderr shows the value:\n{result}");
        }
    }
}
