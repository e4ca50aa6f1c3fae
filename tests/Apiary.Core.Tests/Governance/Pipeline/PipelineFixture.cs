using Apiary.Agents;
using Apiary.Events;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;
using Apiary.Governance.Pipeline;
using Apiary.Storage.Sqlite;
using Apiary.Testing;

namespace Apiary.Tests.Governance.Pipeline;

/// <summary>A pipeline over a real SQLite file in a temp folder, on a manual clock; reopenable to simulate a restart.</summary>
internal sealed class PipelineFixture : IAsyncDisposable
{
    public static readonly string Policy = GovernanceTestData.Rules(
        GovernanceTestData.Rule("allow-ls", 100, "{ kind: exec, command: ls }"),
        GovernanceTestData.Rule("deny-rm", 1000, "{ kind: exec, command: rm }", tier: "deny"),
        GovernanceTestData.Rule("approve-git", 500, "{ kind: exec, command: git }", tier: "approve"),
        GovernanceTestData.Rule("allow-writes", 100, "{ kind: write_file }"));

    public static readonly BudgetEstimate OneCommand = new(1, TimeSpan.FromSeconds(1), 0, 0m);

    private readonly TempDirectory _dir = new("apiary-pipeline");

    private PipelineFixture()
    {
    }

    public ManualClock Clock { get; } = new(new DateTimeOffset(2025, 1, 15, 10, 30, 0, TimeSpan.Zero));

    public SqliteEventStore Sqlite { get; private set; } = null!;

    public FailingStore Store { get; private set; } = null!;

    public BudgetLedger Budgets { get; private set; } = null!;

    public LockTable Locks { get; private set; } = null!;

    public KillSwitch KillSwitch { get; private set; } = null!;

    public GovernancePipeline Pipeline { get; private set; } = null!;

    public static async Task<PipelineFixture> CreateAsync(GovernancePipelineOptions? options = null)
    {
        var fixture = new PipelineFixture();
        await fixture.OpenAsync(options);
        return fixture;
    }

    /// <summary>Closes the store and drops the pipeline and its stages, then opens everything again and loads.</summary>
    public async Task RestartAsync(GovernancePipelineOptions? options = null)
    {
        await Sqlite.DisposeAsync();
        await OpenAsync(options);
        await Pipeline.LoadAsync(TestContext.Current.CancellationToken);
    }

    public static Proposal Exec(string session, string command, params string[] args) =>
        Proposal.Exec(new Principal(AgentName.Parse("coder"), AgentRole.Worker, session), GovernanceTestData.Workspace, command, args);

    public async Task<List<RecordedEvent>> StreamAsync(string stream)
    {
        var events = new List<RecordedEvent>();
        await foreach (var e in Sqlite.ReadStreamAsync(stream, 1, TestContext.Current.CancellationToken))
        {
            events.Add(e);
        }

        return events;
    }

    public async ValueTask DisposeAsync()
    {
        await Sqlite.DisposeAsync();
        _dir.Dispose();
    }

    private async Task OpenAsync(GovernancePipelineOptions? options)
    {
        Sqlite = await SqliteEventStore.OpenAsync(_dir["events.db"], cancellationToken: TestContext.Current.CancellationToken);
        Store = new FailingStore(Sqlite);
        Budgets = new BudgetLedger(Clock);
        Locks = new LockTable(Clock);
        KillSwitch = new KillSwitch(Clock);
        var engine = new PolicyEngine(GovernanceTestData.Load(Policy), time: Clock);
        Pipeline = new GovernancePipeline(Store, engine, Budgets, Locks, KillSwitch, options, Clock);
    }
}

/// <summary>
/// The real store, whose appends can be made to fail as a store that is down does, or followed by a callback for each
/// committed event (as another party acting at that moment would).
/// </summary>
internal sealed class FailingStore(IEventStore inner) : IEventStore
{
    public bool FailAppends { get; set; }

    public Func<EventData, Task>? AfterAppend { get; set; }

    public async Task<AppendResult> AppendAsync(string stream, ExpectedVersion expectedVersion, IReadOnlyList<EventData> events, CancellationToken cancellationToken = default)
    {
        if (FailAppends)
        {
            throw new EventStoreException("the disk is gone");
        }

        var result = await inner.AppendAsync(stream, expectedVersion, events, cancellationToken);
        if (AfterAppend is { } after)
        {
            foreach (var e in events)
            {
                await after(e);
            }
        }

        return result;
    }

    public IAsyncEnumerable<RecordedEvent> ReadStreamAsync(string stream, long fromVersion = 1, CancellationToken cancellationToken = default) =>
        inner.ReadStreamAsync(stream, fromVersion, cancellationToken);

    public IAsyncEnumerable<RecordedEvent> ReadAllAsync(long fromPosition = 1, CancellationToken cancellationToken = default) =>
        inner.ReadAllAsync(fromPosition, cancellationToken);

    public IAsyncEnumerable<RecordedEvent> SubscribeAsync(long fromPosition = 1, CancellationToken cancellationToken = default) =>
        inner.SubscribeAsync(fromPosition, cancellationToken);

    public Task<ChainVerification> VerifyChainAsync(CancellationToken cancellationToken = default) => inner.VerifyChainAsync(cancellationToken);

    public Task<long> PurgeBodiesAsync(DateTimeOffset olderThan, IReadOnlyCollection<string>? types = null, CancellationToken cancellationToken = default) =>
        inner.PurgeBodiesAsync(olderThan, types, cancellationToken);
}
