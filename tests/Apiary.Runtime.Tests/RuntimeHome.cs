using Apiary.Home;

namespace Apiary.Runtime.Tests;

/// <summary>
/// A runtime with no web host around it: the sample home in a new temporary folder (with the policy a test adds), real
/// SQLite and real sandboxes, and the <see cref="Model"/> every agent calls. What a capability does is tested here, at
/// the runtime's seam, without HTTP.
/// </summary>
internal sealed class RuntimeHome : IAsyncDisposable
{
    private readonly TempDirectory _root;

    private RuntimeHome(TempDirectory root, ApiaryRuntime runtime, ScriptedChatClient model)
    {
        _root = root;
        Runtime = runtime;
        Model = model;
    }

    public ApiaryRuntime Runtime { get; }

    /// <summary>The model every agent calls.</summary>
    public ScriptedChatClient Model { get; }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Opens a runtime on a new sample home with <paramref name="policy"/> (a policy file's YAML) added, if any.</summary>
    public static async Task<RuntimeHome> OpenAsync(string? policy = null)
    {
        var root = new TempDirectory("apiary-runtime");
        try
        {
            var home = new ApiaryHome(root["home"], root.Path);
            await home.InitializeAsync(Ct);
            if (policy is not null)
            {
                await File.WriteAllTextAsync(Path.Combine(home.PoliciesDirectory, "test.yaml"), policy, Ct);
            }

            var model = new ScriptedChatClient();
            var runtime = await ApiaryRuntime.OpenAsync(home, new RuntimeOptions { Models = new ScriptedModelCatalog(model) }, TimeProvider.System, Ct);
            return new RuntimeHome(root, runtime, model);
        }
        catch
        {
            root.Dispose();
            throw;
        }
    }

    /// <summary>A run of <paramref name="agent"/> in a session of its own, for calling its tools directly (no model loop).</summary>
    public async Task<AgentRun> RunOfAsync(string agent)
    {
        var opened = await Runtime.OpenSessionAsync(new OpenSessionRequest(agent), "test", Ct);
        return new AgentRun("run-" + agent + "-" + Guid.NewGuid().ToString("N")[..6], agent, Runtime.Sessions.Find(opened.Session.Id)!, "scripted/test");
    }

    /// <summary>Calls tool <paramref name="name"/> of <paramref name="run"/> as its model would; what the model is told.</summary>
    public Task<string> CallAsync(AgentRun run, string name, params (string Key, object? Value)[] arguments) =>
        Runtime.CallToolAsync(run, new Microsoft.Extensions.AI.FunctionCallContent("call-" + Guid.NewGuid().ToString("N")[..6], name, arguments.ToDictionary(a => a.Key, a => a.Value)), Ct);

    /// <summary>The <c>proposal.decided</c> events of the log, oldest first: (kind, decision, decided by).</summary>
    public async Task<List<(string Kind, string Decision, string DecidedBy)>> DecisionsAsync()
    {
        var decisions = new List<(string, string, string)>();
        await foreach (var e in Runtime.Store.ReadAllAsync(1, Ct))
        {
            if (e.Type == "proposal.decided")
            {
                using var data = System.Text.Json.JsonDocument.Parse(e.Data);
                var root = data.RootElement;
                decisions.Add((root.GetProperty("inputs").GetProperty("kind").GetString()!, root.GetProperty("decision").GetString()!, root.GetProperty("decided_by").GetString()!));
            }
        }

        return decisions;
    }

    public async ValueTask DisposeAsync()
    {
        await Runtime.DisposeAsync();
        _root.Dispose();
    }
}
