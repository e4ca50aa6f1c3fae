namespace Apiary.Server.Tests;

/// <summary>Following a run or a proposal through the API client until it ends.</summary>
internal static class RunProgress
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Every step of run <paramref name="runId"/>'s progress, read until the run ends.</summary>
    public static async Task<List<RunProgressDto>> ReadRunToEndAsync(this ApiaryClient client, string runId)
    {
        var steps = new List<RunProgressDto>();
        await foreach (var step in client.StreamRunProgressAsync(runId, Ct))
        {
            steps.Add(step);
        }

        return steps;
    }

    /// <summary>Reads run <paramref name="runId"/> to its end and asserts it finished (failing with every step when it did not).</summary>
    public static async Task<List<RunProgressDto>> ReadRunToFinishAsync(this ApiaryClient client, string runId)
    {
        var steps = await client.ReadRunToEndAsync(runId);
        Assert.True(steps[^1].Status == "finished", string.Join("\n", steps));
        return steps;
    }

    /// <summary>The last step of run <paramref name="runId"/>: how it ended.</summary>
    public static async Task<RunProgressDto> LastStepOfRunAsync(this ApiaryClient client, string runId)
    {
        RunProgressDto? last = null;
        await foreach (var step in client.StreamRunProgressAsync(runId, Ct))
        {
            last = step;
        }

        return last!;
    }

    /// <summary>Waits until proposal <paramref name="proposalId"/>'s output ends, then returns the proposal as it ended.</summary>
    public static async Task<ProposalDto> WaitForProposalEndAsync(this ApiaryClient client, string proposalId)
    {
        await foreach (var unused in client.StreamOutputAsync(proposalId, Ct))
        {
        }

        return await client.GetProposalAsync(proposalId, Ct);
    }
}
