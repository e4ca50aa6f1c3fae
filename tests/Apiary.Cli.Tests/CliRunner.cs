using Apiary.Home;
using Apiary.Testing;

namespace Apiary.Cli.Tests;

/// <summary>
/// Runs <c>apiary</c> in-process in a throwaway world: a temp folder holding a fake user home (<c>~</c>), a current
/// directory, and an Apiary home that <c>APIARY_HOME</c> points at. No real environment variable, current directory
/// or home folder is read.
/// </summary>
internal sealed class CliRunner : IDisposable, IAsyncDisposable
{
    private readonly TempDirectory _root = new("apiary-cli");
    private RunningServer? _server;

    public CliRunner()
    {
        UserHome = _root.CreateDirectory("user");
        CurrentDirectory = _root.CreateDirectory("work");
        HomeRoot = _root["home"];
        Environment = new Dictionary<string, string?>(StringComparer.Ordinal)
        {
            [ApiaryHome.EnvironmentVariable] = HomeRoot,
        };
    }

    /// <summary>The temp folder everything lives in.</summary>
    public TempDirectory Scratch => _root;

    /// <summary>What <c>~</c> means to the command.</summary>
    public string UserHome { get; }

    /// <summary>The command's current directory.</summary>
    public string CurrentDirectory { get; }

    /// <summary>The home <c>APIARY_HOME</c> names unless a test changes <see cref="Environment"/>.</summary>
    public string HomeRoot { get; }

    /// <summary>The command's environment variables; a test may add, change or remove them.</summary>
    public Dictionary<string, string?> Environment { get; }

    /// <summary>The folder of agent <paramref name="name"/> in <see cref="HomeRoot"/>.</summary>
    public string AgentDirectory(string name) => Path.Combine(HomeRoot, "agents", name);

    /// <summary>Writes <paramref name="text"/> to <paramref name="file"/> of agent <paramref name="agent"/> in <see cref="HomeRoot"/>.</summary>
    public string WriteAgentFile(string agent, string file, string text)
    {
        var path = Path.Combine(AgentDirectory(agent), file);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Runs <c>apiary</c> with <paramref name="args"/> and empty standard input.</summary>
    public Task<CliResult> RunAsync(params string[] args) => RunWithInputAsync("", args);

    /// <summary>The server started on <see cref="HomeRoot"/> by <see cref="StartServerAsync"/>, if any.</summary>
    public RunningServer Server => _server ?? throw new InvalidOperationException("no server was started; call StartServerAsync");

    /// <summary>Starts a server on <see cref="HomeRoot"/> (as <c>apiary up</c> in another terminal would); it stops with the runner.</summary>
    public async Task<RunningServer> StartServerAsync(bool unconfined = false, Apiary.Models.IModelCatalog? models = null)
    {
        await StopServerAsync();
        _server = await RunningServer.StartAsync(this, unconfined, models);
        return _server;
    }

    /// <summary>
    /// Runs an <c>apiary agents list|show|new</c> (a client of the server) as a user would once the home is set up:
    /// starts the home's server first, after whatever files the test wrote, when the home exists and none runs yet.
    /// </summary>
    public async Task<CliResult> RunAgentsAsync(params string[] args)
    {
        if (_server is null && Directory.Exists(Path.Combine(HomeRoot, "agents")))
        {
            await StartServerAsync();
        }

        return await RunAsync(args);
    }

    /// <summary>Stops the server <see cref="StartServerAsync"/> started, if one runs.</summary>
    public async Task StopServerAsync()
    {
        if (_server is { } server)
        {
            _server = null;
            await server.DisposeAsync();
        }
    }

    /// <summary>Runs <c>apiary init</c> and starts a server on the home.</summary>
    public async Task InitAndStartServerAsync()
    {
        await InitAsync();
        await StartServerAsync();
    }

    /// <summary>Runs <c>apiary</c> with <paramref name="args"/>, reading <paramref name="stdin"/> as standard input.</summary>
    public async Task<CliResult> RunWithInputAsync(string stdin, params string[] args)
    {
        using var error = new StringWriter();
        return await RunWithErrorAsync(error, stdin, args);
    }

    /// <summary>
    /// Runs <c>apiary</c> with <paramref name="args"/>, writing its stderr to <paramref name="error"/> as it comes, so a
    /// test can react to a line while the command still runs.
    /// </summary>
    public Task<CliResult> RunWithErrorAsync(TextWriter error, string stdin, params string[] args) =>
        RunWithErrorAsync(error, stdin, TestContext.Current.CancellationToken, args);

    /// <summary>Like <see cref="RunWithErrorAsync(TextWriter, string, string[])"/>, interrupted when <paramref name="cancellationToken"/> is (as Ctrl-C would).</summary>
    public async Task<CliResult> RunWithErrorAsync(TextWriter error, string stdin, CancellationToken cancellationToken, params string[] args)
    {
        using var output = new StringWriter();
        return await RunWithWritersAsync(output, error, stdin, cancellationToken, args);
    }

    /// <summary>Like <see cref="RunWithErrorAsync(TextWriter, string, CancellationToken, string[])"/>, with stdout going to <paramref name="output"/> as it comes too.</summary>
    public async Task<CliResult> RunWithWritersAsync(TextWriter output, TextWriter error, string stdin, CancellationToken cancellationToken, params string[] args)
    {
        using var input = new StringReader(stdin);
        var context = new CliContext
        {
            In = input,
            Out = output,
            Error = error,
            GetEnvironmentVariable = name => Environment.TryGetValue(name, out var value) ? value : null,
            CurrentDirectory = CurrentDirectory,
            UserHome = UserHome,
        };
        var exitCode = await ApiaryCli.RunAsync(args, context, cancellationToken);
        return new CliResult(exitCode, output.ToString() ?? "", error.ToString() ?? "");
    }

    /// <summary>Runs <c>apiary init</c> for <see cref="HomeRoot"/> and checks that it worked.</summary>
    public async Task<CliResult> InitAsync()
    {
        var result = await RunAsync("init");
        Assert.True(result.ExitCode == 0, $"apiary init failed: {result}");
        return result;
    }

    public void Dispose() => _root.Dispose();

    public async ValueTask DisposeAsync()
    {
        await StopServerAsync();
        Dispose();
    }
}
