using Apiary.Models;
using Apiary.Runtime.Supervision;

namespace Apiary.Server.Tests;

/// <summary>
/// A test class whose tests each get an <see cref="InMemoryServer"/> of their own, for the home <c>home</c> of a new
/// temporary folder (the samples, real sandboxes) and, unless the class says otherwise, the scripted <see cref="Model"/>.
/// The server starts before each test; a class whose tests start it themselves (each with a policy of its own, say)
/// overrides <see cref="InitializeAsync"/>.
/// </summary>
/// <param name="name">The prefix of the test's temporary folder.</param>
public abstract class InMemoryServerTest(string name) : IAsyncLifetime
{
    private InMemoryServer? _host;

    /// <summary>The test's folder: the home is its <c>home</c>, the fake user home the folder itself.</summary>
    private protected TempDirectory Root { get; } = new(name);

    /// <summary>The path of the server's home.</summary>
    private protected string HomePath => Root["home"];

    /// <summary>The model every agent calls, unless <see cref="StartAsync"/> is given other models.</summary>
    private protected ScriptedChatClient Model { get; } = new();

    private protected InMemoryServer Host => _host ?? throw new InvalidOperationException("start the server first (StartAsync)");

    private protected ApiaryRuntime Runtime => Host.Runtime;

    private protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    public virtual async ValueTask InitializeAsync() => await StartAsync();

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Root.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Starts the server (again, after <see cref="StopAsync"/>) on the home as it is now.</summary>
    private protected async Task StartAsync(
        IModelCatalog? models = null, SupervisorOptions? supervisor = null, TimeProvider? supervisorClock = null, TimeProvider? rejectionClock = null, IReadOnlyList<IAgentTool>? tools = null) =>
        _host = await InMemoryServer.StartAsync(Root, models ?? new ScriptedModelCatalog(Model), supervisor, supervisorClock, rejectionClock, tools);

    /// <summary>Starts the server with options of the test's own, which must serve in memory and name <see cref="HomePath"/>.</summary>
    private protected async Task StartAsync(ServerOptions options) => _host = await InMemoryServer.StartAsync(options);

    /// <summary>Stops the server, as a restart or a crash would, leaving the home as it is.</summary>
    private protected async Task StopAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
            _host = null;
        }
    }
}
