using System.Text.RegularExpressions;
using Apiary.Agents;
using Apiary.Home;
using Microsoft.Extensions.AI;

namespace Apiary.Server.Tests;

/// <summary>
/// Agent memory through the API, in memory, with a real SQLite home, the sample policies (plus a rule of each test's
/// own) and a scripted model: <c>remember</c> allowed, denied and approved, and compaction past <c>memory.compact_at</c>
/// by the agent's own model, succeeding and failing.
/// </summary>
public sealed partial class MemoryTests() : InMemoryServerTest("apiary-memory")
{
    private const string AllowMemory = """
        rules:
          - name: coder-remembers
            priority: 60
            match: { kind: write_file, agent: coder, path: MEMORY.md }
            risk: low
            tier: allow
        """;

    private string CoderFolder => Path.Combine(HomePath, "agents", "coder");

    private string MemoryPath => Path.Combine(CoderFolder, "MEMORY.md");

    /// <summary>Each test starts the server itself, with the policy it needs (<see cref="StartAsync(string?, int?)"/>).</summary>
    public override ValueTask InitializeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Remember_Allowed_AppendsAnEntryThatTheNextRunsPromptIncludes()
    {
        await StartAsync(AllowMemory);
        Model.CallTool("remember", new Dictionary<string, object?> { ["text"] = "the tests run with 'make check'" }).Answer("noted");

        var first = await RunToEndAsync("learn how to test");

        Assert.StartsWith("remembered: appended to your MEMORY.md", Assert.Single(Model.ToolResults()), StringComparison.Ordinal);
        Assert.Matches(@"^- \[\d{4}-\d{2}-\d{2}\] the tests run with 'make check'\n$", await File.ReadAllTextAsync(MemoryPath, Ct));
        var decided = (await EventsAsync(first)).Single(e => e.Type == "proposal.decided" && Kind(e) == "write_file");
        Assert.Equal("coder-remembers", decided.Data.GetProperty("rule").GetString());

        Model.Answer("I know how to test");
        await RunToEndAsync("test it");

        var prompt = Model.Calls[^1][0];
        Assert.Equal(ChatRole.System, prompt.Role);
        Assert.Contains(PromptComposer.SectionMarker("MEMORY.md") + "\n- [", prompt.Text, StringComparison.Ordinal);
        Assert.Contains("] the tests run with 'make check'", prompt.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remember_DeniedByAWriteFileRule_NothingWrittenAndTheModelIsToldTheRule()
    {
        await StartAsync("""
            rules:
              - name: coder-keeps-no-memory
                priority: 60
                match: { kind: write_file, agent: coder, path: MEMORY.md }
                risk: medium
                tier: deny
                message: the coder keeps no memory
            """);
        Model.CallTool("remember", new Dictionary<string, object?> { ["text"] = "a fact" }).Answer("fine");

        await RunToEndAsync("remember a fact");

        Assert.False(File.Exists(MemoryPath));
        var told = Assert.Single(Model.ToolResults());
        Assert.StartsWith("denied by rule 'coder-keeps-no-memory'", told, StringComparison.Ordinal);
        Assert.Contains("the coder keeps no memory", told, StringComparison.Ordinal);
        Assert.EndsWith("Nothing was written", told, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remember_PendingThenApproved_WrittenAndTheApproverSawTheText()
    {
        // The sample coder's writes outside src/ and tests/ need approval (coder-writes-workspace): so does its memory.
        await StartAsync();
        Model.CallTool("remember", new Dictionary<string, object?> { ["text"] = "the operator prefers small commits" }).Answer("noted");

        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("remember a preference"), Ct);
        TicketDto? ticket = null;
        var steps = new List<RunProgressDto>();
        await foreach (var step in Host.Client.StreamRunProgressAsync(run.Id, Ct))
        {
            steps.Add(step);
            if (step is { Type: "decision", Decision: "pending", Tool: "remember" })
            {
                Assert.False(File.Exists(MemoryPath));
                Assert.Equal("waiting_approval", (await Host.Client.GetRunAsync(run.Id, Ct)).Status);
                ticket = Assert.Single(await Host.Client.ListApprovalsAsync(Ct));
                Assert.Equal("granted", (await Host.Client.ApproveAsync(ticket.Ticket, cancellationToken: Ct)).State);
            }
        }

        Assert.True(steps[^1].Status == "finished", string.Join("\n", steps));
        Assert.NotNull(ticket);
        Assert.Equal(("write_file", "coder-writes-workspace", "write_file MEMORY.md"), (ticket.Kind, ticket.Rule, ticket.CommandLine));
        var other = (await Host.Client.ExplainAsync(ticket.Proposal, Ct)).GetProperty("inputs").GetProperty("other");
        Assert.Equal(("memory", "the operator prefers small commits"), (other.GetProperty("target").GetString(), other.GetProperty("content").GetString()));
        Assert.Contains("] the operator prefers small commits\n", await File.ReadAllTextAsync(MemoryPath, Ct), StringComparison.Ordinal);
        Assert.StartsWith("remembered:", Assert.Single(Model.ToolResults()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remember_TextOverTheLimit_RefusedBeforeGovernanceNothingWritten()
    {
        await StartAsync(AllowMemory);
        Model.CallTool("remember", new Dictionary<string, object?> { ["text"] = new string('x', 4001) }).Answer("too long");

        await RunToEndAsync("remember a lot");

        Assert.False(File.Exists(MemoryPath));
        Assert.Equal(
            "error: 'text' has 4001 characters, more than the 4000 one call may remember; remember it shorter or in parts; nothing was written",
            Assert.Single(Model.ToolResults()));
    }

    [Fact]
    public async Task Remember_NamingAnotherAgent_RefusedAndNoOtherMemoryTouched()
    {
        await StartAsync(AllowMemory);
        var managerMemory = Path.Combine(HomePath, "agents", "manager", "MEMORY.md");
        var before = File.Exists(managerMemory) ? await File.ReadAllTextAsync(managerMemory, Ct) : null;
        Model.CallTool("remember", new Dictionary<string, object?> { ["text"] = "I am the manager now", ["agent"] = "manager" }).Answer("refused");

        await RunToEndAsync("rewrite the manager's memory");

        Assert.StartsWith("error: remember has no argument 'agent'", Assert.Single(Model.ToolResults()), StringComparison.Ordinal);
        Assert.False(File.Exists(MemoryPath));
        Assert.Equal(before, File.Exists(managerMemory) ? await File.ReadAllTextAsync(managerMemory, Ct) : null);
    }

    [Fact]
    public async Task Remember_PastCompactAt_TheModelsRewriteBecomesTheMemoryAndThePreviousIsKept()
    {
        await StartAsync(AllowMemory, compactAt: 1000);
        var earlier = await WriteFortyFactsAsync();
        Model
            .CallTool("remember", new Dictionary<string, object?> { ["text"] = "the build needs dotnet 10" })
            .Answer("- facts 01-40 are about the build\n- the build needs dotnet 10", inputTokens: 400, outputTokens: 20)
            .Answer("done");

        var run = await RunToEndAsync("remember the sdk");

        const string Rewritten = "- facts 01-40 are about the build\n- the build needs dotnet 10\n";
        Assert.Equal(Rewritten, await File.ReadAllTextAsync(MemoryPath, Ct));
        var kept = Assert.Single(Directory.GetFiles(Path.Combine(CoderFolder, ".state", "memory")));
        Assert.Matches(KeptName(), Path.GetFileName(kept));
        var previous = await File.ReadAllTextAsync(kept, Ct);
        Assert.StartsWith(earlier, previous, StringComparison.Ordinal);
        Assert.EndsWith("] the build needs dotnet 10\n", previous, StringComparison.Ordinal);

        // The compaction call: the instruction, then the memory as it stood with the new entry.
        var compaction = Model.Calls[1];
        Assert.Contains("rewrite it", compaction[0].Text, StringComparison.Ordinal);
        Assert.Equal(previous, compaction[1].Text);
        var told = Assert.Single(Model.ToolResults());
        Assert.Contains("so it was compacted", told, StringComparison.Ordinal);
        Assert.Contains(".state/memory/" + Path.GetFileName(kept), told, StringComparison.Ordinal);

        var events = await EventsAsync(run);
        var compacted = Assert.Single(events, e => e.Type == "memory.compacted").Data;
        Assert.Equal(("coder", run.Id, previous.Length, Rewritten.Length), (compacted.GetProperty("agent").GetString(), compacted.GetProperty("run").GetString(), compacted.GetProperty("chars_before").GetInt32(), compacted.GetProperty("chars_after").GetInt32()));
        Assert.Equal((Path.GetFileName(kept), 420L), (compacted.GetProperty("previous_version").GetString(), compacted.GetProperty("tokens").GetInt64()));
        var charged = Completion(events, $"memory compaction in run {run.Id}");
        Assert.Equal(420, charged.Data.GetProperty("tokens").GetInt64());
        Assert.DoesNotContain(events, e => e.Type == "memory.compaction_failed");

        // The kept version is the agent's state, not its definition: the agent still loads and its prompt has only the new memory.
        Assert.Equal("ok", (await Host.Client.GetAgentAsync("coder", Ct)).Agent.Status);
        Model.Answer("ok");
        await RunToEndAsync("go on");
        var prompt = Model.Calls[^1][0].Text;
        Assert.Contains(PromptComposer.SectionMarker("MEMORY.md") + "\n" + Rewritten, prompt, StringComparison.Ordinal);
        Assert.DoesNotContain("fact number 01", prompt, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Remember_CompactionOutputEmpty_OriginalKeptAndTheFailureRecorded()
    {
        await StartAsync(AllowMemory, compactAt: 1000);
        var earlier = await WriteFortyFactsAsync();
        Model
            .CallTool("remember", new Dictionary<string, object?> { ["text"] = "one more fact" })
            .Answer("", inputTokens: 400, outputTokens: 0)
            .Answer("done");

        var run = await RunToEndAsync("remember one more");

        var memory = await File.ReadAllTextAsync(MemoryPath, Ct);
        Assert.StartsWith(earlier, memory, StringComparison.Ordinal);
        Assert.EndsWith("] one more fact\n", memory, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(CoderFolder, ".state", "memory")) && Directory.EnumerateFiles(Path.Combine(CoderFolder, ".state", "memory")).Any());
        var told = Assert.Single(Model.ToolResults());
        Assert.StartsWith("remembered:", told, StringComparison.Ordinal);
        Assert.Contains("the compaction failed (the model's output was empty)", told, StringComparison.Ordinal);

        var events = await EventsAsync(run);
        var failed = Assert.Single(events, e => e.Type == "memory.compaction_failed").Data;
        Assert.Equal(("the model's output was empty", memory.Length, 400L), (failed.GetProperty("reason").GetString(), failed.GetProperty("chars").GetInt32(), failed.GetProperty("tokens").GetInt64()));
        Assert.DoesNotContain(events, e => e.Type == "memory.compacted");
        Assert.Equal(400, Completion(events, $"memory compaction in run {run.Id}").Data.GetProperty("tokens").GetInt64());
    }

    [GeneratedRegex(@"^MEMORY-\d{8}T\d{9}Z\.md$")]
    private static partial Regex KeptName();

    /// <summary>Initializes the home with the samples, adds <paramref name="policy"/> and <c>memory.compact_at</c>, and starts the server.</summary>
    private async Task StartAsync(string? policy = null, int? compactAt = null)
    {
        var home = new ApiaryHome(HomePath, Root.Path);
        await home.InitializeAsync(Ct);
        if (policy is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(home.PoliciesDirectory, "memory-test.yaml"), policy, Ct);
        }

        if (compactAt is { } chars)
        {
            await File.AppendAllTextAsync(home.ConfigFile, $"\nmemory:\n  compact_at: {chars}\n", Ct);
        }

        await base.StartAsync();
    }

    /// <summary>Writes forty facts about the build to the coder's memory (over 1000 characters) and returns them.</summary>
    private async Task<string> WriteFortyFactsAsync()
    {
        var facts = string.Concat(Enumerable.Range(1, 40).Select(i => $"- fact number {i:00} about the build\n"));
        await File.WriteAllTextAsync(MemoryPath, facts, Ct);
        return facts;
    }

    private async Task<RunDto> RunToEndAsync(string task)
    {
        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest(task), Ct);
        await Host.Client.ReadRunToFinishAsync(run.Id);
        return run;
    }

    private async Task<IReadOnlyList<EventDto>> EventsAsync(RunDto run) =>
        await Host.Client.ReadEventsAsync(filter: new Apiary.Client.EventFilter(Stream: "session-" + run.Session), cancellationToken: Ct);

    /// <summary>The kind of the proposal a <c>proposal.decided</c> event decided.</summary>
    private static string? Kind(EventDto decided) => decided.Data.GetProperty("inputs").GetProperty("kind").GetString();

    /// <summary>The completion of the one <c>model_call</c> proposal made for <paramref name="purpose"/>: what it spent.</summary>
    private static EventDto Completion(IReadOnlyList<EventDto> events, string purpose)
    {
        var decided = Assert.Single(events, e => e.Type == "proposal.decided" && Kind(e) == "model_call"
            && e.Data.GetProperty("inputs").GetProperty("other").GetProperty("purpose").GetString() == purpose);
        var id = decided.Data.GetProperty("proposal_id").GetString();
        return Assert.Single(events, e => e.Type == "proposal.completed" && e.Data.GetProperty("proposal_id").GetString() == id);
    }
}
