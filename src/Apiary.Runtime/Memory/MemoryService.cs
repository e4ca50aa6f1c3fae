using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Apiary.Agents;
using Apiary.Governance.Budgets;
using Apiary.IO;
using Apiary.Models;
using Apiary.Runtime.Telemetry;

namespace Apiary.Runtime.Memory;

/// <summary>
/// Agent memory: <c>remember</c> appends to the agent's MEMORY.md as a proposal governed like a <c>write_file</c> of
/// MEMORY.md, and a memory grown past <c>memory.compact_at</c> is rewritten shorter by the agent's own model (a
/// <c>model_call</c> proposal charged to the run's session), the previous version kept.
/// </summary>
internal sealed class MemoryService(RuntimeContext context, GovernedExecutor executor, ModelCalls modelCalls, IModelCatalog models)
{
    /// <summary>Where, inside an agent's folder, previous versions of its memory are kept (the agent catalog never reads <c>.state</c>).</summary>
    public const string MemoryHistoryFolder = ".state/memory";

    /// <summary>The most output tokens a compaction may produce at the least.</summary>
    private const int OutputAllowance = 4096;

    /// <summary>One lock per agent: two runs of an agent never lose each other's entries, nor an entry made while compacting.</summary>
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    /// <summary>Remembers <paramref name="text"/> for <paramref name="call"/>'s run; what the model is told.</summary>
    public async Task<string> RememberAsync(ToolCall call, string text, CancellationToken cancellationToken)
    {
        var run = call.Run;
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
        var path = Path.Combine(context.Catalog.FolderOf(AgentName.Parse(run.Agent)), MemoryTools.MemoryFile);
        var gate = _locks.GetOrAdd(run.Agent, _ => new SemaphoreSlim(1, 1));
        string? memory = null;
        var held = false;
        try
        {
            var (governed, refusal) = await RunProposals.GovernAsync(executor, call, proposal, async (_, _, ct) =>
            {
                await gate.WaitAsync(ct).ConfigureAwait(false);
                held = true;
                var clock = Stopwatch.StartNew();
                var before = File.Exists(path) ? await File.ReadAllTextAsync(path, Encoding.UTF8, CancellationToken.None).ConfigureAwait(false) : "";
                var entry = MemoryTools.Entry(text, context.Time.GetUtcNow());
                var after = before.Length == 0 || before.EndsWith('\n') ? before + entry : before + "\n" + entry;
                await WriteAtomicallyAsync(path, after).ConfigureAwait(false);
                memory = after;
                return new ProposalWorkResult(
                    new ResultDto(0, "written", clock.ElapsedMilliseconds, Content: string.Create(CultureInfo.InvariantCulture, $"remembered {text.Length} characters in {path} (now {after.Length} characters)")),
                    new BudgetAmounts(0, clock.Elapsed, 0, 0m));
            }, "nothing was written", cancellationToken).ConfigureAwait(false);
            if (refusal is not null)
            {
                return refusal;
            }

            if (memory is null)
            {
                return $"error: your memory could not be written: {governed.Result?.Error ?? "it was not written"}";
            }

            var told = string.Create(CultureInfo.InvariantCulture, $"remembered: appended to your MEMORY.md, which later runs of yours read ({memory.Length} characters)");
            var compactAt = context.Config.MemoryCompactAt ?? Apiary.Home.HomeConfig.DefaultMemoryCompactAt;
            return memory.Length <= compactAt ? told : $"{told}; {await CompactAsync(run, path, memory, compactAt, cancellationToken).ConfigureAwait(false)}";
        }
        finally
        {
            if (held)
            {
                gate.Release();
            }
        }
    }

    /// <summary>
    /// Asks the run's model to rewrite <paramref name="memory"/> shorter, as a <c>model_call</c> proposal of the run's
    /// session; keeps the previous version under <see cref="MemoryHistoryFolder"/> and writes the new one. Never fails
    /// the run: whatever happens is recorded and returned as a sentence for the model; on any failure the memory stays
    /// as it was.
    /// </summary>
    private async Task<string> CompactAsync(AgentRun run, string path, string memory, int compactAt, CancellationToken cancellationToken)
    {
        var session = run.Session;
        var over = string.Create(CultureInfo.InvariantCulture, $"it passed {compactAt} characters (memory.compact_at)");
        ModelBinding binding;
        try
        {
            binding = models.Resolve(run.Model);
        }
        catch (ModelConfigurationException ex)
        {
            return await CompactionFailedAsync(run, run.Model, memory.Length, $"the model is not available: {ex.Message}").ConfigureAwait(false);
        }

        var instruction = MemoryTools.CompactionInstruction(memory.Length, compactAt);
        List<ChatMessage> messages = [new(ChatRole.System, instruction), new(ChatRole.User, memory)];

        // The rewrite is shorter than the memory; a token is about four characters, so this leaves it room to spare.
        long allowance = Math.Max(OutputAllowance, (memory.Length / 2) + 1);
        long inputEstimate = ((instruction.Length + memory.Length) / 4) + 1;
        string? told = null;
        ModelCallOutcome made;
        try
        {
            made = await modelCalls.CallAsync(
                run,
                0,
                binding,
                messages,
                new ChatOptions { ModelId = binding.Model, MaxOutputTokens = (int)Math.Min(allowance, int.MaxValue) },
                inputEstimate,
                allowance,
                $"memory compaction in run {run.Id}",
                async (response, _) =>
                {
                    var (input, output) = (response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
                    var tokens = input is null && output is null ? inputEstimate + allowance : (input ?? 0) + (output ?? 0);
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

                    if (problem is not null)
                    {
                        RuntimeLog.MemoryCompactionFailed(context.Log, run.Agent, problem);
                        told = Failed(memory.Length, problem);
                        return [Failure(run, binding.Reference, memory.Length, problem, tokens)];
                    }

                    told = string.Create(CultureInfo.InvariantCulture, $"{over}, so it was compacted: your model rewrote it to {compacted.Length} characters (the previous version is kept as {MemoryHistoryFolder}/{kept}); read it in your next run's prompt");
                    var data = new MemoryCompactedData(run.Agent, run.Id, session.Id, binding.Reference, memory.Length, compacted.Length, kept!, input, output, tokens, context.Time.GetUtcNow());
                    return [MemoryEvent(MemoryEventTypes.MemoryCompacted, data, RuntimeJsonContext.Default.MemoryCompactedData)];
                },
                cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The entry is written: the model is told so, and the run stops at its next step.
            return await CompactionFailedAsync(run, binding.Reference, memory.Length, "the run stopped before the compaction finished").ConfigureAwait(false);
        }
#pragma warning disable CA1031 // A provider may fail in ways no list can name; a failed compaction keeps the memory and the run goes on.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            return await CompactionFailedAsync(run, binding.Reference, memory.Length, $"the model call failed: {ex.Message}").ConfigureAwait(false);
        }

        if (made.Failed is { } failed)
        {
            return await CompactionFailedAsync(run, binding.Reference, memory.Length, $"the model call failed: {failed}").ConfigureAwait(false);
        }

        return made.Refused is { } refused
            ? await CompactionFailedAsync(run, binding.Reference, memory.Length, made.BudgetExhausted ? $"the budget cannot cover the compaction: {refused}" : $"the model call was refused: {refused}").ConfigureAwait(false)
            : told ?? Failed(memory.Length, "it was not recorded");
    }

    /// <summary>Records a compaction that did not happen (no model call was made) and says so for the model.</summary>
    private async Task<string> CompactionFailedAsync(AgentRun run, string model, int chars, string reason)
    {
        RuntimeLog.MemoryCompactionFailed(context.Log, run.Agent, reason);
        try
        {
            await context.RecordAsync("session-" + run.Session.Id, Failure(run, model, chars, reason, 0), CancellationToken.None).ConfigureAwait(false);
        }
        catch (ApiaryException)
        {
            // What the model is told is the same; the failure to record shows in the store's own log.
        }

        return Failed(chars, reason);
    }

    private EventData Failure(AgentRun run, string model, int chars, string reason, long tokens) => MemoryEvent(
        MemoryEventTypes.MemoryCompactionFailed,
        new MemoryCompactionFailedData(run.Agent, run.Id, run.Session.Id, model, chars, reason, tokens, context.Time.GetUtcNow()),
        RuntimeJsonContext.Default.MemoryCompactionFailedData);

    private static string Failed(int chars, string reason) =>
        string.Create(CultureInfo.InvariantCulture, $"your memory is over the size at which it is compacted, but the compaction failed ({reason}); it stays as it was ({chars} characters)");

    /// <summary>Keeps <paramref name="memory"/> as <c>MEMORY-&lt;UTC time&gt;.md</c> under the agent's <see cref="MemoryHistoryFolder"/>; returns the file's name.</summary>
    private async Task<string> KeepPreviousAsync(string agentFolder, string memory)
    {
        var folder = Path.Combine(agentFolder, MemoryHistoryFolder);
        OwnerOnly.CreateDirectory(folder);
        var stamp = context.Time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
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
