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
/// The governance pipeline run in this process against a home: its event log (<c>events.db</c>), its policies
/// (<c>policies/*.yaml</c>), and in-memory budgets, locks and kill switches. Approval tickets live in the event log,
/// so another <c>apiary</c> process on the same home sees and answers them. Until the server takes this over, this is
/// how the CLI governs what it runs.
/// </summary>
internal sealed class LocalGovernance : IAsyncDisposable
{
    /// <summary>The agent a command runs as when no <c>--agent</c> is given: the person at the terminal.</summary>
    public static readonly AgentName Operator = AgentName.Parse("operator");

    private LocalGovernance(SqliteEventStore store, GovernancePipeline pipeline)
    {
        Store = store;
        Pipeline = pipeline;
    }

    /// <summary>The home's event log.</summary>
    public SqliteEventStore Store { get; }

    /// <summary>The pipeline, loaded from the event log.</summary>
    public GovernancePipeline Pipeline { get; }

    /// <summary>
    /// Opens the governance of <paramref name="home"/> for deciding proposals: loads the policies (errors are printed and
    /// end the command with exit 2), opens the event log and loads the pipeline. <paramref name="secretValues"/> are the
    /// values a proposal must not carry (a <see cref="SecretLeakEvaluator"/> escalates those that do);
    /// <paramref name="limits"/> are the agent's budget, or null for no limit.
    /// </summary>
    public static async Task<LocalGovernance> OpenForDecisionsAsync(
        ApiaryHome home,
        CliContext context,
        IEnumerable<string> secretValues,
        AgentName agent,
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
            ledger.SetLimits(BudgetScope.Agent(agent), limits);
        }

        return await OpenAsync(home, engine, ledger, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Opens the governance of <paramref name="home"/> to read and answer what is recorded (tickets, decisions). It
    /// decides nothing, so it needs no policies: a broken policy file must not keep anyone from answering a ticket.
    /// </summary>
    public static async Task<LocalGovernance> OpenForAnswersAsync(ApiaryHome home, CancellationToken cancellationToken)
    {
        if (!home.Exists)
        {
            throw CliException.Failure(
                $"there is no Apiary home at {home.Root} ({CommonOptions.Describe(home.Source)}); create it with 'apiary init --home {home.Root}'");
        }

        return await OpenAsync(home, new PolicyEngine(Policy.Empty), new BudgetLedger(TimeProvider.System), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The budget limits an agent's settings give.</summary>
    public static BudgetLimits LimitsOf(AgentSettings settings) =>
        new(settings.Commands.Value, settings.WallTime.Value, settings.Tokens.Value, settings.CostUsd.Value);

    /// <summary>The user answering tickets, as recorded in <c>by</c>.</summary>
    public static string Who(CliContext context) =>
        context.GetEnvironmentVariable("USER") is { Length: > 0 } user ? user : "operator";

    public async ValueTask DisposeAsync() => await Store.DisposeAsync().ConfigureAwait(false);

    private static async Task<LocalGovernance> OpenAsync(ApiaryHome home, PolicyEngine engine, BudgetLedger ledger, CancellationToken cancellationToken)
    {
        var store = await SqliteEventStore.OpenAsync(Path.Combine(home.Root, AuditCommand.StoreFileName), cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            var pipeline = new GovernancePipeline(store, engine, ledger, new LockTable(TimeProvider.System), new KillSwitch(TimeProvider.System));
            await pipeline.LoadAsync(cancellationToken).ConfigureAwait(false);
            return new LocalGovernance(store, pipeline);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
