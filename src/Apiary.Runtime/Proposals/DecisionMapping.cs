using Apiary.Governance.Pipeline;

namespace Apiary.Runtime;

/// <summary>Governance results in their wire form.</summary>
internal static class DecisionMapping
{
    /// <summary>The wire form of a governance result.</summary>
    public static DecisionDto ToDto(GovernanceResult result) => new(
        result.Decision.Kind.ToString().ToLowerInvariant(),
        StageName(result.Stage),
        result.Decision.Rule,
        result.Decision.Risk.ToString().ToLowerInvariant(),
        result.Decision.Reason,
        result.Ticket?.Id.ToString());

    public static string StageName(PipelineStage stage) => stage switch
    {
        PipelineStage.KillSwitch => "kill_switch",
        _ => stage.ToString().ToLowerInvariant(),
    };
}
