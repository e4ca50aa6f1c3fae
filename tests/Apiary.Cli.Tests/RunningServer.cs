using Apiary.Home;
using Apiary.Server;
using Apiary.Testing;
using Apiary.Runtime;

namespace Apiary.Cli.Tests;

/// <summary>A real Apiary server, in-process, on a free loopback port, for a temporary home initialized with the samples.</summary>
internal sealed class RunningServer : IAsyncDisposable
{
    private readonly TempDirectory? _root;

    private RunningServer(TempDirectory? root, ApiaryServer server, string home, string userHome)
    {
        _root = root;
        Server = server;
        HomeRoot = home;
        UserHome = userHome;
    }

    public ApiaryServer Server { get; }

    public string HomeRoot { get; }

    public string UserHome { get; }

    public ApiaryHome Home => new(HomeRoot, UserHome);

    /// <summary>Starts a server on a new sample home; <paramref name="prepare"/> may change the home's files first.</summary>
    public static async Task<RunningServer> StartAsync(Func<string, Task>? prepare = null)
    {
        var root = new TempDirectory("apiary-cli-server");
        try
        {
            var userHome = root.CreateDirectory("user");
            var home = root["home"];
            await new ApiaryHome(home, userHome).InitializeAsync(TestContext.Current.CancellationToken);
            if (prepare is not null)
            {
                await prepare(home);
            }

            var server = await ApiaryServer.StartAsync(
                new ServerOptions { Home = home, Urls = "http://127.0.0.1:0", UserHome = userHome, LoggerFactory = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance },
                TestContext.Current.CancellationToken);
            return new RunningServer(root, server, home, userHome);
        }
        catch
        {
            root.Dispose();
            throw;
        }
    }

    /// <summary>Starts a server on the home of <paramref name="cli"/> (after its <c>apiary init</c>), as <c>apiary up</c> would; the runner keeps owning the folders.</summary>
    public static async Task<RunningServer> StartAsync(CliRunner cli, bool unconfined = false, Apiary.Models.IModelCatalog? models = null)
    {
        var server = await ApiaryServer.StartAsync(
            new ServerOptions { Home = cli.HomeRoot, Urls = "http://127.0.0.1:0", UserHome = cli.UserHome, LoggerFactory = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance, Unconfined = unconfined, Models = models },
            TestContext.Current.CancellationToken);
        return new RunningServer(null, server, cli.HomeRoot, cli.UserHome);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        _root?.Dispose();
    }
}
