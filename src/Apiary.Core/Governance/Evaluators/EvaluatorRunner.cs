namespace Apiary.Governance;

/// <summary>Runs evaluators in parallel under one deadline, turning throws and missed deadlines into denies.</summary>
internal static class EvaluatorRunner
{
    public static async Task<EvaluatorResult[]> RunAsync(
        IReadOnlyList<IProposalEvaluator> evaluators,
        Proposal proposal,
        TimeSpan deadline,
        TimeProvider time,
        CancellationToken cancellationToken)
    {
        // The deadline timer starts before any evaluator does, so a slow first one cannot eat the others' time.
        using var expired = new CancellationTokenSource(deadline, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(expired.Token, cancellationToken);
        var runs = new Task<EvaluatorResult>[evaluators.Count];
        for (var i = 0; i < evaluators.Count; i++)
        {
            runs[i] = RunOneAsync(evaluators[i], proposal, deadline, linked.Token, cancellationToken);
        }

        return await Task.WhenAll(runs).ConfigureAwait(false);
    }

    private static async Task<EvaluatorResult> RunOneAsync(
        IProposalEvaluator evaluator, Proposal proposal, TimeSpan deadline, CancellationToken token, CancellationToken callerToken)
    {
        try
        {
            // Task.Run keeps an evaluator that blocks before its first await from holding up the others;
            // WaitAsync stops waiting at the deadline even for one that ignores its token.
            var verdict = await Task.Run(() => evaluator.EvaluateAsync(proposal, token).AsTask(), token).WaitAsync(token).ConfigureAwait(false);
            return new EvaluatorResult(evaluator.Name, verdict ?? EvaluatorVerdict.Deny($"evaluator '{evaluator.Name}' returned no verdict"));
        }
        catch (OperationCanceledException) when (!callerToken.IsCancellationRequested)
        {
            return new EvaluatorResult(evaluator.Name, EvaluatorVerdict.Deny($"evaluator '{evaluator.Name}' missed its deadline of {deadline.TotalMilliseconds:0} ms"));
        }
#pragma warning disable CA1031 // Any failure of a plug-in must become a deny, whatever its type: the pipeline fails closed.
        catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
        {
            return new EvaluatorResult(evaluator.Name, EvaluatorVerdict.Deny($"evaluator '{evaluator.Name}' failed: {ex.GetType().Name}: {ex.Message}"));
        }
    }
}
