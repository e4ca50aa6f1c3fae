using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using System.Collections.Concurrent;
using Apiary.Agents;
using Apiary.Governance.Budgets;
using Apiary.Governance.Pipeline;
using Apiary.Home;
using Apiary.Secrets;
using Apiary.Storage.Sqlite;

namespace Apiary.Runtime;

/// <summary>
/// What every capability of the runtime shares: the home and its configuration, the agents, the event store,
/// governance, the clock, and the background work the runtime waits for when it stops. One per runtime; each
/// capability (sessions, the executor, runs, messaging, the manager, memory) is given it when the runtime is composed.
/// </summary>
internal sealed record RuntimeContext(
    ApiaryHome Home, HomeConfig Config, AgentCatalog Catalog, SqliteEventStore Store, GovernancePipeline Pipeline, BudgetLedger Ledger, ISecretStore Secrets, TokenStore Tokens, TimeProvider Time)
    : IDisposable
{
    /// <summary>The agent a session acts as when the person at the terminal works through it (<c>apiary exec</c> without <c>--agent</c>).</summary>
    public static readonly AgentName Operator = AgentName.Parse("operator");

    private readonly CancellationTokenSource _stopping = new();
    private volatile HomeConfig _config = Config;
    private volatile string? _policyProblem;
    private readonly ConcurrentDictionary<Task, byte> _work = new();

    /// <summary>The home's settings (<c>apiary.yaml</c>) in force; replaced as a whole when a valid change of the file is reloaded.</summary>
    public HomeConfig Config
    {
        get => _config;
        set => _config = value ?? throw new ArgumentNullException(nameof(value));
    }

    /// <summary>
    /// Why the policies did not load at start, when they did not; every proposal is refused until a valid set is loaded
    /// (at a reload of the files, see <c>LiveConfiguration</c>), which clears it.
    /// </summary>
    public string? PolicyProblem
    {
        get => _policyProblem;
        set => _policyProblem = value;
    }

    /// <summary>Cancelled when the runtime stops: running commands, approval waits and live streams end.</summary>
    public CancellationToken Stopping => _stopping.Token;

    public bool IsStopping => _stopping.IsCancellationRequested;

    /// <summary>Where the runtime logs (nowhere unless the runtime's options give a logger factory).</summary>
    public ILogger Log { get; init; } = NullLogger.Instance;

    /// <summary>Records an event the runtime itself produces; a failure to record is the caller's to handle.</summary>
    public Task<AppendResult> RecordAsync(string stream, EventData data, CancellationToken cancellationToken = default) =>
        Store.AppendAsync(stream, ExpectedVersion.Any, [data], cancellationToken);

    /// <summary>Refuses new work while the policies cannot be loaded.</summary>
    /// <exception cref="RequestRefusedException">They cannot.</exception>
    public void ThrowIfPoliciesBroken()
    {
        if (PolicyProblem is not null)
        {
            throw new RequestRefusedException(Refusal.Unavailable, "Policies not loaded", PolicyProblem);
        }
    }

    /// <summary>Loads an agent by the name a caller gave; a bad name, an unknown agent and a broken definition are refusals naming the problem.</summary>
    public async Task<AgentDefinition> LoadAgentAsync(string raw, CancellationToken cancellationToken)
    {
        if (!AgentName.TryCreate(raw, out var name, out var error))
        {
            throw new RequestRefusedException(Refusal.Invalid, "Invalid agent name", $"'{raw}' is not a valid agent name: {error.Message}");
        }

        var entry = await Catalog.LoadAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false)
            ?? throw new RequestRefusedException(Refusal.NotFound, "Unknown agent", $"there is no agent named '{name}' in {Home.AgentsDirectory}; GET /api/agents lists the agents, POST /api/agents creates one");
        return entry.Definition
            ?? throw new RequestRefusedException(Refusal.Conflict, "Broken agent", $"agent '{name}' cannot be used until its definition is fixed: {string.Join("; ", entry.Errors.Select(e => e.ToString()))}");
    }

    /// <summary>Runs <paramref name="work"/> in the background, waited for (up to a limit) when the runtime stops.</summary>
    public Task Run(Func<Task> work)
    {
        var task = Task.Run(work, CancellationToken.None);
        _work[task] = 0;
        task.ContinueWith(t => _work.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

    /// <inheritdoc cref="Run(Func{Task})"/>
    public Task<T> Run<T>(Func<Task<T>> work)
    {
        var task = Task.Run(work, CancellationToken.None);
        _work[task] = 0;
        task.ContinueWith(t => _work.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return task;
    }

    /// <summary>Cancels <see cref="Stopping"/>; false when it already was.</summary>
    public async Task<bool> StopAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return false;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        return true;
    }

    /// <summary>Waits (up to 15 seconds) for the background work to end.</summary>
    public async Task WaitForWorkAsync() =>
        await Task.WhenAll(_work.Keys).WaitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

    public void Dispose() => _stopping.Dispose();
}
