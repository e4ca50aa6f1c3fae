using Apiary.Agents;
using Apiary.Text;
using Apiary.Configuration;

namespace Apiary.Server;

// The agents of the home, read from their folders as 'apiary agents' shows them: every setting with its source, the
// files, and each finding with its file, line and column.
internal static partial class ApiEndpoints
{
    private static async Task<IResult> ListAgentsAsync(bool? findings, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        var listing = await runtime.Catalog.ListAsync(cancellationToken).ConfigureAwait(false);
        IReadOnlyList<AgentDto> agents = listing.Agents.Select(e => Summary(e, runtime)).ToList();
        return findings == true
            ? Results.Json(new AgentListingDto(agents, listing.Diagnostics.Select(Finding).ToList()), ApiJsonContext.Default.AgentListingDto)
            : Results.Json(agents, ApiJsonContext.Default.IReadOnlyListAgentDto);
    }

    private static async Task<IResult> ShowAgentAsync(
        string name, string? model, [Microsoft.AspNetCore.Mvc.FromQuery(Name = "tool_profile")] string? toolProfile, string? template, string? workspace, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        if (!AgentName.TryCreate(name, out var agentName, out var error))
        {
            return Problems.BadRequest($"'{name}' is not a valid agent name: {error.Message}");
        }

        var overrides = new AgentOverrides { Model = model, ToolProfile = toolProfile, Template = template, Workspace = workspace };
        if (SettingRules.Check(overrides) is [_, ..] errors)
        {
            return Problems.BadRequest(string.Join("; ", errors));
        }

        var entry = await runtime.Catalog.LoadAsync(agentName, overrides, cancellationToken).ConfigureAwait(false);
        return entry is null ? UnknownAgent(runtime, name) : Results.Json(Detail(entry, runtime), ApiJsonContext.Default.AgentDetailDto);
    }

    private static AgentDto Summary(AgentEntry entry, ApiaryRuntime runtime) => new(
        entry.Name.Value,
        entry.Definition?.Settings.Role.Value == AgentRole.Manager ? "manager" : "worker",
        entry.IsUsable && !entry.Errors.Any() ? "ok" : "broken",
        entry.Definition?.Manifest.Description,
        entry.Definition?.Settings.Model.Value,
        entry.Directory,
        entry.Definition?.Settings.ToolProfile.Value,
        entry.Definition?.Settings.Template.Value,
        entry.Definition?.Files.Select(f => new AgentFileDto(f.Name, f.Exists, f.Bytes)).ToList(),
        entry.Diagnostics.Select(Finding).ToList(),
        runtime.Supervisor.StateOf(entry.Name.Value),
        runtime.Supervisor.LastFailureOf(entry.Name.Value));

    private static AgentDetailDto Detail(AgentEntry entry, ApiaryRuntime runtime)
    {
        var agent = entry.Definition;
        var detail = new AgentDetailDto(
            Summary(entry, runtime),
            entry.Directory,
            agent?.Workspace.Path ?? "",
            agent?.Settings.Template.Value ?? "",
            entry.Diagnostics.Select(d => d.ToString()).ToList());
        if (agent is null)
        {
            return detail;
        }

        var s = agent.Settings;
        return detail with
        {
            Settings = new AgentSettingsDto(
                Setting(s.Role, r => r == AgentRole.Manager ? "manager" : "worker"),
                Setting(s.Model, v => v),
                Setting(s.ToolProfile, v => v),
                Setting(s.Template, v => v),
                Setting(s.AllowedRecipients, v => v),
                new AgentBudgetDto(Setting(s.Commands, v => v), Setting(s.WallTime, DurationText.Format), Setting(s.Tokens, v => v), Setting(s.CostUsd, v => v))),
            WorkspaceInfo = new AgentWorkspaceDto(agent.Workspace.Path, agent.Workspace.IsDefault, agent.Workspace.Exists, SourceName(agent.Workspace.Source)),
            Bootstrap = new AgentBootstrapDto(agent.Bootstrap is not null, agent.Bootstrap?.SessionId, agent.Bootstrap?.CompletedAt),
        };
    }

    private static SettingDto<TOut> Setting<TIn, TOut>(Setting<TIn> setting, Func<TIn, TOut> map) => new(map(setting.Value), SourceName(setting.Source));

    private static string SourceName(SettingSource source) => source switch
    {
        SettingSource.CommandLine => "command_line",
        SettingSource.Frontmatter => "frontmatter",
        SettingSource.HomeConfig => "home_config",
        _ => "default",
    };

    private static DiagnosticDto Finding(Diagnostic d) =>
        new(d.Severity == DiagnosticSeverity.Error ? "error" : "warning", d.Message, d.File, d.Line, d.Column);

}
