using Apiary.Agents;
using Apiary.Cli.Commands;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;
using Apiary.Governance.Pipeline;
using Apiary.Home;
using Apiary.Storage.Sqlite;

namespace Apiary.Cli;

/// <summary>
/// The governance pipeline run in this process against a home: its event log (<c>events.db</c>) and its policies
/// (<c>policies/*.yaml</c>). Everything the pipeline knows is folded from the log: approval tickets, budgets, leases and
/// kill switches, so another <c>apiary</c> process on the same home sees and answers the same state. On opening, what
/// sessions that died left allowed but unfinished is given back and recorded; while open, kill switches engaged by
/// other processes are applied (cancelling what this process runs in their scope). Until the server takes this over,
/// this is how the CLI governs what it runs.
/// </summary>
internal sealed class LocalGovernance : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _following;
    private readonly IDisposable? _session;

    /// <summary>The agent a command runs as when no <c>--agent</c> is given: the person at the terminal.</summary>
    public static readonly AgentName Operator = AgentName.Parse("operator");

    private LocalGovernance(SqliteEventStore store, GovernancePipeline pipeline, IDisposable? session)
    {
        Store = store;
        Pipeline = pipeline;
        _session = session;
        // Only a process that runs work has anything for another process's kill switch to stop.
        _following = session is null ? Task.CompletedTask : Task.Run(() => pipeline.FollowAsync(_stopping.Token));
    }

    /// <summary>The home's event log.</summary>
    public SqliteEventStore Store { get; }

    /// <summary>The pipeline, loaded from the event log.</summary>
    public GovernancePipeline Pipeline { get; }

    /// <summary>
    /// Opens the governance of <paramref name="home"/> for deciding proposals: loads the policies (errors are printed and
    /// end the command with exit 2), opens the event log and loads the pipeline. <paramref name="secretValues"/> are the
    /// values a proposal must not carry (a <see cref="SecretLeakEvaluator"/> escalates those that do);
    /// <paramref name="limits"/> are the agent's per-session budget, or null for no limit. The session is marked alive
    /// (see <see cref="LiveSessions"/>) until this is disposed.
    /// </summary>
    public static async Task<LocalGovernance> OpenForDecisionsAsync(
        ApiaryHome home,
        CliContext context,
        IEnumerable<string> secretValues,
        string sessionId,
        BudgetLimits? limits,
        CancellationToken cancellationToken)
    {
        var loaded = PolicyLoader.LoadDirectory(home.PoliciesDirectory);
        await CommonOptions.ReportAsync(context, loaded.Diagnostics).ConfigureAwait(false);
        if (!loaded.Succeeded)
        {
            throw CliException.BadInput($"the policies in {home.PoliciesDirectory} cannot be loaded (above); nothing runs until they are fixed");
        }

        var engine = new PolicyEngine(loaded.Policy!, [new SecretLeakEvaluator(secretValues)]);
        var ledger = new BudgetLedger(TimeProvider.System);
        if (limits is not null)
        {
            ledger.SetLimits(BudgetScope.Session(sessionId), limits);
        }

        var session = LiveSessions.Of(home).Hold(sessionId);
        try
        {
            return await OpenAsync(home, context, engine, ledger, session, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens the governance of <paramref name="home"/> to read and answer what is recorded (tickets, decisions). It
    /// decides nothing, so it needs no policies: a broken policy file must not keep anyone from answering a ticket.
    /// </summary>
    public static async Task<LocalGovernance> OpenForAnswersAsync(ApiaryHome home, CliContext context, CancellationToken cancellationToken)
    {
        if (!home.Exists)
        {
            throw CliException.Failure(
                $"there is no Apiary home at {home.Root} ({CommonOptions.Describe(home.Source)}); create it with 'apiary init --home {home.Root}'");
        }

        return await OpenAsync(home, context, new PolicyEngine(Policy.Empty), new BudgetLedger(TimeProvider.System), null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The budget limits an agent's settings give.</summary>
    public static BudgetLimits LimitsOf(AgentSettings settings) =>
        new(settings.Commands.Value, settings.WallTime.Value, settings.Tokens.Value, settings.CostUsd.Value);

    /// <summary>The user answering tickets, as recorded in <c>by</c>.</summary>
    public static string Who(CliContext context) =>
        context.GetEnvironmentVariable("USER") is { Length: > 0 } user ? user : "operator";

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _following.ConfigureAwait(false);
        _stopping.Dispose();
        await Store.DisposeAsync().ConfigureAwait(false);
        _session?.Dispose();
    }

    private static async Task<LocalGovernance> OpenAsync(
        ApiaryHome home, CliContext context, PolicyEngine engine, BudgetLedger ledger, IDisposable? session, CancellationToken cancellationToken)
    {
        var store = await SqliteEventStore.OpenAsync(Path.Combine(home.Root, AuditCommand.StoreFileName), cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            var pipeline = new GovernancePipeline(store, engine, ledger, new LockTable(TimeProvider.System), new KillSwitch(TimeProvider.System));
            await pipeline.LoadAsync(cancellationToken).ConfigureAwait(false);
            var live = LiveSessions.Of(home);
            foreach (var abandoned in await pipeline.RecoverAsync(live.IsAlive, cancellationToken).ConfigureAwait(false))
            {
                await context.Error.WriteLineAsync(
                    $"apiary: recovered proposal {abandoned.ProposalId} of {abandoned.Agent}: its session {abandoned.Session} ended before it completed; its budget and lease are given back (recorded)").ConfigureAwait(false);
            }

            return new LocalGovernance(store, pipeline, session);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
