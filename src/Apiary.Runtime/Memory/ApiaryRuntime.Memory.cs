using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Apiary.Agents;
using Apiary.Events;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.Pipeline;
using Apiary.IO;
using Apiary.Models;
using Apiary.Runtime.Memory;
using Apiary.Runtime.Messaging;
using Microsoft.Extensions.AI;

namespace Apiary.Runtime;

// Agent memory: the remember tool appends to the agent's MEMORY.md, governed like a write_file of MEMORY.md, and a
// memory grown past memory.compact_at is rewritten shorter by the agent's own model, the previous version kept.
internal sealed partial class ApiaryRuntime
{
    /// <summary>Where, inside an agent's folder, previous versions of its memory are kept (the agent catalog never reads <c>.state</c>).</summary>
    public const string MemoryHistoryFolder = ".state/memory";

    /// <summary>One lock per agent: two runs of an agent never lose each other's entries, nor an entry made while compacting.</summary>
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _memoryLocks = new(StringComparer.Ordinal);

    /// <summary>
    /// Runs a memory tool call of <paramref name="run"/> and returns what the model is told; null when
    /// <paramref name="call"/> is not a memory tool.
    /// </summary>
    public async Task<string?> CallMemoryToolAsync(AgentRun run, FunctionCallContent call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(call);
        if (!MemoryTools.Handles(call.Name))
        {
            return null;
        }

        string text;
        try
        {
            text = AgentTools.Arguments(call, "text").RequiredString("text");
        }
        catch (ArgumentException ex)
        {
            return $"error: {ex.Message}; nothing was written";
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            return "error: 'text' is blank: give the fact to remember; nothing was written";
        }

        if (text.Length > MemoryTools.MaxTextChars)
        {
            return string.Create(CultureInfo.InvariantCulture, $"error: 'text' has {text.Length} characters, more than the {MemoryTools.MaxTextChars} one call may remember; remember it shorter or in parts; nothing was written");
        }

        // A rule sees a write_file of MEMORY.md (relative to the workspace, as every write_file path is), and the
        // text as the proposal's 'content', so content checks (secrets) and an approver see what is remembered.
        var session = run.Session;
        var proposal = Proposal.Create(session.Principal, ProposalKind.WriteFile, session.Workspace, new ProposalArguments
        {
            Path = MemoryTools.MemoryFile,
            Other = new Dictionary<string, string>(StringComparer.Ordinal) { ["target"] = "memory", ["content"] = text },
        });
        var admission = await AdmitAsync(run, MemoryTools.Remember, proposal, "nothing was written", cancellationToken).ConfigureAwait(false);
        if (admission.Allowed is not { } admitted)
        {
            return admission.Refusal!;
        }

        var gate = _memoryLocks.GetOrAdd(run.Agent, _ => new SemaphoreSlim(1, 1));
        try
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await Pipeline.CompleteAsync(admitted, new ProposalOutcome(null, "cancelled", TimeSpan.Zero, "the run stopped before the memory was written"), new BudgetAmounts(0, TimeSpan.Zero, 0, 0m), CancellationToken.None).ConfigureAwait(false);
            throw;
        }

        try
        {
            var path = Path.Combine(Catalog.FolderOf(AgentName.Parse(run.Agent)), MemoryTools.MemoryFile);
            var clock = Stopwatch.StartNew();
            string memory;
            try
            {
                var before = File.Exists(path) ? await File.ReadAllTextAsync(path, Encoding.UTF8, CancellationToken.None).ConfigureAwait(false) : "";
                var entry = MemoryTools.Entry(text, Time.GetUtcNow());
                memory = before.Length == 0 || before.EndsWith('\n') ? before + entry : before + "\n" + entry;
                await WriteAtomicallyAsync(path, memory).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                await Pipeline.CompleteAsync(admitted, new ProposalOutcome(null, "error", clock.Elapsed, ex.Message), new BudgetAmounts(0, clock.Elapsed, 0, 0m), CancellationToken.None).ConfigureAwait(false);
                return $"error: your memory could not be written: {ex.Message}";
            }

            await Pipeline.CompleteAsync(
                admitted,
                new ProposalOutcome(0, "written", clock.Elapsed, string.Create(CultureInfo.InvariantCulture, $"remembered {text.Length} characters in {path} (now {memory.Length} characters)")),
                new BudgetAmounts(0, clock.Elapsed, 0, 0m),
                CancellationToken.None).ConfigureAwait(false);
            var told = string.Create(CultureInfo.InvariantCulture, $"remembered: appended to your MEMORY.md, which later runs of yours read ({memory.Length} characters)");
            var compactAt = Config.MemoryCompactAt ?? Apiary.Home.HomeConfig.DefaultMemoryCompactAt;
            return memory.Length <= compactAt ? told : $"{told}; {await CompactMemoryAsync(run, path, memory, compactAt, cancellationToken).ConfigureAwait(false)}";
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Asks the run's model to rewrite <paramref name="memory"/> shorter, charging the run's session budget; keeps the
    /// previous version under <see cref="MemoryHistoryFolder"/> and writes the new one. Never fails the run: whatever
    /// happens is recorded and returned as a sentence for the model; on any failure the memory stays as it was.
    /// </summary>
    private async Task<string> CompactMemoryAsync(AgentRun run, string path, string memory, int compactAt, CancellationToken cancellationToken)
    {
        var session = run.Session;
        var stream = "session-" + session.Id;
        var over = string.Create(CultureInfo.InvariantCulture, $"it passed {compactAt} characters (memory.compact_at)");
        ModelBinding binding;
        try
        {
            binding = Models.Resolve(run.Model);
        }
        catch (ModelConfigurationException ex)
        {
            return await CompactionFailedAsync(run, run.Model, memory.Length, $"the model is not available: {ex.Message}", null, 0, CancellationToken.None).ConfigureAwait(false);
        }

        var instruction = MemoryTools.CompactionInstruction(memory.Length, compactAt);
        List<ChatMessage> messages = [new(ChatRole.System, instruction), new(ChatRole.User, memory)];

        // The rewrite is shorter than the memory; a token is about four characters, so this leaves it room to spare.
        long allowance = Math.Max(OutputAllowance, (memory.Length / 2) + 1);
        long inputEstimate = ((instruction.Length + memory.Length) / 4) + 1;
        var estimate = new BudgetEstimate(0, TimeSpan.Zero, inputEstimate + allowance, binding.Price?.Cost(inputEstimate, allowance) ?? 0m);
        if (!_ledger.TryReserve(session.Principal, estimate, out var reservation, out var denial))
        {
            return await CompactionFailedAsync(run, binding.Reference, memory.Length, $"the budget cannot cover the compaction: {denial.Reason}", null, 0, CancellationToken.None).ConfigureAwait(false);
        }

        ChatResponse response;
        try
        {
            response = await binding.Client.GetResponseAsync(messages, new ChatOptions { ModelId = binding.Model, MaxOutputTokens = (int)Math.Min(allowance, int.MaxValue) }, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The entry is written: the model is told so, and the run stops at its next step.
            _ledger.Release(reservation);
            return await CompactionFailedAsync(run, binding.Reference, memory.Length, "the run stopped before the compaction finished", null, 0, CancellationToken.None).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A provider may fail in ways no list can name; a failed compaction keeps the memory and the run goes on.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            _ledger.Release(reservation);
            return await CompactionFailedAsync(run, binding.Reference, memory.Length, $"the model call failed: {ex.Message}", null, 0, CancellationToken.None).ConfigureAwait(false);
        }

        var (input, output) = (response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);

        // A model that reports no usage is charged what was reserved: a budget must not count unknown use as none.
        var tokens = input is null && output is null ? inputEstimate + allowance : (input ?? 0) + (output ?? 0);
        var spent = new BudgetAmounts(0, TimeSpan.Zero, tokens, binding.Price?.Cost(input ?? inputEstimate, output ?? allowance) ?? 0m);
        var compacted = Unfence(response.Text) is { Length: > 0 } rewritten ? rewritten + "\n" : "";
        string? problem = compacted.Length == 0 ? "the model's output was empty"
            : response.FinishReason == ChatFinishReason.Length ? "the model's output was cut at its token limit"
            : compacted.Length >= memory.Length ? string.Create(CultureInfo.InvariantCulture, $"the model's output ({compacted.Length} characters) was not shorter than the memory")
            : null;
        string? kept = null;
        if (problem is null)
        {
            try
            {
                kept = await KeepPreviousAsync(Path.GetDirectoryName(path)!, memory).ConfigureAwait(false);
                await WriteAtomicallyAsync(path, compacted).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                problem = $"the new memory could not be written: {ex.Message}";
            }
        }

        var purpose = $"memory compaction in run {run.Id}";
        if (problem is not null)
        {
            return await CompactionFailedAsync(run, binding.Reference, memory.Length, problem, (reservation, spent, purpose), tokens, CancellationToken.None).ConfigureAwait(false);
        }

        var after = compacted.Length;
        var data = new MemoryCompactedData(run.Agent, run.Id, session.Id, binding.Reference, memory.Length, after, kept!, input, output, tokens, Time.GetUtcNow());
        var told = string.Create(CultureInfo.InvariantCulture, $"{over}, so it was compacted: your model rewrote it to {after} characters (the previous version is kept as {MemoryHistoryFolder}/{kept}); read it in your next run's prompt");
        try
        {
            // The compaction and what it spent are one append, as a model call of the turn loop is.
            await Pipeline.SettleAsync(
                stream, session.Principal, reservation, spent, purpose, [MemoryEvent(MemoryEventTypes.MemoryCompacted, data, MemoryEventJsonContext.Default.MemoryCompactedData)], CancellationToken.None).ConfigureAwait(false);
        }
        catch (ApiaryException ex)
        {
            return $"{told} (it could not be recorded: {ex.Message})";
        }

        return told;
    }

    /// <summary>Records a compaction that did not happen (settling its model call, if one was made) and says so for the model.</summary>
    private async Task<string> CompactionFailedAsync(
        AgentRun run, string model, int chars, string reason, (BudgetReservation Reservation, BudgetAmounts Spent, string Purpose)? charge, long tokens, CancellationToken cancellationToken)
    {
        var stream = "session-" + run.Session.Id;
        var failed = MemoryEvent(
            MemoryEventTypes.MemoryCompactionFailed,
            new MemoryCompactionFailedData(run.Agent, run.Id, run.Session.Id, model, chars, reason, tokens, Time.GetUtcNow()),
            MemoryEventJsonContext.Default.MemoryCompactionFailedData);
        try
        {
            if (charge is var (reservation, spent, purpose))
            {
                await Pipeline.SettleAsync(stream, run.Session.Principal, reservation, spent, purpose, [failed], cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await RecordAsync(stream, failed, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (ApiaryException)
        {
            // What the model is told is the same; the failure to record shows in the store's own log.
        }

        return string.Create(CultureInfo.InvariantCulture, $"your memory is over the size at which it is compacted, but the compaction failed ({reason}); it stays as it was ({chars} characters)");
    }

    /// <summary>Keeps <paramref name="memory"/> as <c>MEMORY-&lt;UTC time&gt;.md</c> under the agent's <see cref="MemoryHistoryFolder"/>; returns the file's name.</summary>
    private async Task<string> KeepPreviousAsync(string agentFolder, string memory)
    {
        var folder = Path.Combine(agentFolder, MemoryHistoryFolder);
        OwnerOnly.CreateDirectory(folder);
        var stamp = Time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
        for (var n = 1; ; n++)
        {
            var name = n == 1 ? $"MEMORY-{stamp}.md" : string.Create(CultureInfo.InvariantCulture, $"MEMORY-{stamp}-{n}.md");
            try
            {
                // CreateNew: a version kept earlier is never overwritten.
                await using var file = OwnerOnly.Open(Path.Combine(folder, name));
                await file.WriteAsync(new UTF8Encoding(false).GetBytes(memory)).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
                return name;
            }
            catch (IOException) when (File.Exists(Path.Combine(folder, name)) && n < 100)
            {
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="path"/> (a file of an agent's folder) whole or not at all: a temporary file in the folder's
    /// <see cref="MemoryHistoryFolder"/>, where nothing that reads agent folders looks, renamed into place.
    /// </summary>
    private static Task WriteAtomicallyAsync(string path, string text)
    {
        var folder = Path.Combine(Path.GetDirectoryName(path)!, MemoryHistoryFolder);
        OwnerOnly.CreateDirectory(folder);
        return OwnerOnly.WriteAllBytesAsync(path, new UTF8Encoding(false).GetBytes(text), folder);
    }

    /// <summary>The model's text without a code fence around it, which some models add whatever they are told.</summary>
    private static string Unfence(string text)
    {
        var trimmed = text.Trim();
        if (trimmed.Length < 6 || !trimmed.StartsWith("```", StringComparison.Ordinal) || !trimmed.EndsWith("```", StringComparison.Ordinal))
        {
            return trimmed;
        }

        var (open, close) = (trimmed.IndexOf('\n', StringComparison.Ordinal), trimmed.LastIndexOf('\n'));
        return open >= 0 && close > open ? trimmed[(open + 1)..close].Trim() : "";
    }

    private static EventData MemoryEvent<T>(string type, T data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info) =>
        new(type, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(data, info));
}
