using System.Diagnostics;
using Apiary.Governance.Budgets;
using Apiary.Models;
using Apiary.Runtime.Telemetry;

namespace Apiary.Runtime;

/// <summary>
/// What became of a governed model call: its response; or why it was not made (<see cref="Refused"/>, with
/// <see cref="BudgetExhausted"/> when the budget could not cover it); or why the provider failed to answer
/// (<see cref="Failed"/>, after its retries). Each is an outcome for the caller to handle, not an exception.
/// </summary>
internal sealed record ModelCallOutcome(ChatResponse? Response, long DurationMs, string? Refused, bool BudgetExhausted, string? Failed = null);

/// <summary>
/// Model calls as proposals: each call of a run's model (a turn, or its memory's compaction) is a <c>model_call</c>
/// proposal of the run's session through the one executor, which reserves its estimate in the session's budget (a
/// budget that cannot cover it refuses it), and completes it with the tokens and cost it spent, in the same append as
/// the events the call records (<c>model.called</c>).
/// </summary>
internal sealed class ModelCalls(GovernedExecutor executor)
{
    /// <summary>
    /// Calls <paramref name="binding"/>'s model with <paramref name="messages"/> for turn <paramref name="turn"/> of
    /// <paramref name="agentRun"/> (0 for work outside a turn, such as a memory compaction), in its session.
    /// <paramref name="record"/> gives, from the response and its duration, the events recorded with the completion.
    /// </summary>
    /// <exception cref="OperationCanceledException">The run stopped.</exception>
    public async Task<ModelCallOutcome> CallAsync(
        AgentRun agentRun,
        int turn,
        ModelBinding binding,
        IList<ChatMessage> messages,
        ChatOptions options,
        long inputEstimate,
        long outputAllowance,
        string purpose,
        Func<ChatResponse, long, Task<IReadOnlyList<EventData>>> record,
        CancellationToken cancellationToken)
    {
        var session = agentRun.Session;
        var proposal = Proposal.Create(session.Principal, ProposalKind.ModelCall, session.Workspace, new ProposalArguments
        {
            Other = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["model"] = binding.Reference,
                ["purpose"] = purpose,
                ["input_tokens_estimate"] = inputEstimate.ToString(CultureInfo.InvariantCulture),
                ["output_tokens_allowed"] = outputAllowance.ToString(CultureInfo.InvariantCulture),
            },
        });
        var estimate = new BudgetEstimate(0, TimeSpan.Zero, inputEstimate + outputAllowance, binding.Price?.Cost(inputEstimate, outputAllowance) ?? 0m);
        ChatResponse? response = null;
        string? failure = null;
        long duration = 0;
        var run = await executor.GovernAsync(session, proposal, estimate, async (_, _, ct) =>
        {
            var clock = Stopwatch.StartNew();
            using var activity = RuntimeTelemetry.StartModelCall(agentRun.Id, agentRun.Agent, turn, binding.Reference);
            try
            {
                response = await binding.Client.GetResponseAsync(messages, options, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                RuntimeTelemetry.ModelCallEnded(activity, session.AgentName, binding.Reference, null, null, clock.Elapsed, "cancelled");
                throw;
            }
#pragma warning disable CA1031 // A provider may fail in ways no list can name (its SDK's own exceptions); the proposal still completes, and the caller is told.
            catch (Exception ex)
#pragma warning restore CA1031
            {
                failure = ex.Message;
                RuntimeTelemetry.ModelCallEnded(activity, session.AgentName, binding.Reference, null, null, clock.Elapsed, "error", ex.Message);
                return new ProposalWorkResult(new ResultDto(null, "error", clock.ElapsedMilliseconds, Error: ex.Message), BudgetAmounts.Zero);
            }

            duration = clock.ElapsedMilliseconds;
            var (input, output) = (response.Usage?.InputTokenCount, response.Usage?.OutputTokenCount);
            RuntimeTelemetry.ModelCallEnded(activity, session.AgentName, binding.Reference, input, output, clock.Elapsed, "ok");

            // A model that reports no usage is charged what was reserved: a budget must not count unknown use as none.
            var tokens = input is null && output is null ? inputEstimate + outputAllowance : (input ?? 0) + (output ?? 0);
            var cost = binding.Price?.Cost(input ?? inputEstimate, output ?? outputAllowance) ?? 0m;
            var recorded = await record(response, duration).ConfigureAwait(false);
            return new ProposalWorkResult(
                new ResultDto(0, "answered", duration, Content: string.Create(CultureInfo.InvariantCulture, $"{input?.ToString(CultureInfo.InvariantCulture) ?? "?"} tokens in, {output?.ToString(CultureInfo.InvariantCulture) ?? "?"} out")),
                new BudgetAmounts(0, TimeSpan.Zero, tokens, cost),
                recorded);
        }, new GovernOptions { Abandoned = cancellationToken }, cancellationToken).ConfigureAwait(false);

        await run.Terminal.WaitAsync(cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (failure is not null)
        {
            return new ModelCallOutcome(null, 0, null, false, failure);
        }

        if (response is not null)
        {
            return new ModelCallOutcome(response, duration, null, false);
        }

        var d = run.Decision;
        if (run.Result is { Reason: "cancelled" })
        {
            throw new OperationCanceledException(run.Result.Error);
        }

        return new ModelCallOutcome(null, 0, run.Result?.Error ?? $"{d.Reason} (rule '{d.Rule}', stage {d.Stage})", d.Stage == "budget");
    }
}
