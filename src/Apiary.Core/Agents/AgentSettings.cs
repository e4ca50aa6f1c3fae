
namespace Apiary.Agents;

/// <summary>Where an effective setting came from, highest precedence first.</summary>
public enum SettingSource
{
    /// <summary>Given on the command line (or in an API request) for this use only.</summary>
    CommandLine,

    /// <summary>Declared in the agent's <c>AGENTS.md</c> frontmatter.</summary>
    Frontmatter,

    /// <summary>A default in the home's <c>apiary.yaml</c>.</summary>
    HomeConfig,

    /// <summary>Apiary's built-in default.</summary>
    Default,
}

/// <summary>An effective setting and where it came from.</summary>
/// <typeparam name="T">The setting's type.</typeparam>
/// <param name="Value">The value in force.</param>
/// <param name="Source">The layer that supplied it.</param>
public sealed record Setting<T>(T Value, SettingSource Source);

/// <summary>Resolves settings by precedence: command line, then frontmatter, then home config, then default.</summary>
public static class Setting
{
    /// <summary>Picks the first layer that sets a reference-typed value.</summary>
    public static Setting<T> Resolve<T>(T? commandLine, T? frontmatter, T? homeConfig, T builtIn)
        where T : class? =>
        commandLine is not null ? new(commandLine, SettingSource.CommandLine)
        : frontmatter is not null ? new(frontmatter, SettingSource.Frontmatter)
        : homeConfig is not null ? new(homeConfig, SettingSource.HomeConfig)
        : new(builtIn, SettingSource.Default);

    /// <summary>Picks the first layer that sets a value-typed value.</summary>
    public static Setting<T> Resolve<T>(T? commandLine, T? frontmatter, T? homeConfig, T builtIn)
        where T : struct =>
        commandLine is { } c ? new(c, SettingSource.CommandLine)
        : frontmatter is { } f ? new(f, SettingSource.Frontmatter)
        : homeConfig is { } h ? new(h, SettingSource.HomeConfig)
        : new(builtIn, SettingSource.Default);
}

/// <summary>Settings given for one use of an agent, which win over its frontmatter (for example <c>--model</c>).</summary>
public sealed record AgentOverrides
{
    /// <summary>No overrides.</summary>
    public static AgentOverrides None { get; } = new();

    /// <summary>The model as <c>endpoint/model</c>.</summary>
    public string? Model { get; init; }

    /// <summary>The tool profile.</summary>
    public string? ToolProfile { get; init; }

    /// <summary>The sandbox template.</summary>
    public string? Template { get; init; }

    /// <summary>The workspace folder.</summary>
    public string? Workspace { get; init; }

    /// <summary>Budget limits; each one set here wins over the others.</summary>
    public AgentBudget? Budget { get; init; }
}

/// <summary>
/// An agent's effective settings, each resolved in the order command line, frontmatter, home config, built-in
/// default, and each remembering where it came from.
/// </summary>
public sealed record AgentSettings(
    Setting<AgentRole> Role,
    Setting<string?> Model,
    Setting<string> ToolProfile,
    Setting<string> Template,
    Setting<IReadOnlyList<string>> AllowedRecipients,
    Setting<int> Commands,
    Setting<TimeSpan> WallTime,
    Setting<long> Tokens,
    Setting<decimal> CostUsd)
{
    /// <summary>The tool profile when nothing sets one.</summary>
    public const string DefaultToolProfile = "coding";

    /// <summary>The sandbox template when nothing sets one.</summary>
    public const string DefaultTemplate = "default";

    /// <summary>The budget when nothing sets one: small enough that a runaway agent stops early.</summary>
    public static AgentBudget DefaultBudget { get; } = new(Commands: 100, WallTime: TimeSpan.FromMinutes(30), Tokens: 200_000, CostUsd: 1.00m);

    /// <summary>Resolves every setting of an agent, from the command line, its manifest, the home's defaults and Apiary's own.</summary>
    /// <param name="manifest">The agent's AGENTS.md frontmatter.</param>
    /// <param name="defaults">The home's defaults (<c>defaults</c> in apiary.yaml).</param>
    /// <param name="overrides">What the command line sets.</param>
    public static AgentSettings Resolve(AgentManifest manifest, AgentManifest defaults, AgentOverrides overrides)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(defaults);
        ArgumentNullException.ThrowIfNull(overrides);
        var cli = overrides.Budget;
        var own = manifest.Budget;
        var shared = defaults.Budget;
        var builtIn = DefaultBudget;
        return new AgentSettings(
            Setting.Resolve(null, manifest.Role, defaults.Role, AgentRole.Worker),
            Setting.Resolve<string?>(overrides.Model, manifest.Model, defaults.Model, null),
            Setting.Resolve(overrides.ToolProfile, manifest.ToolProfile, defaults.ToolProfile, DefaultToolProfile),
            Setting.Resolve(overrides.Template, manifest.Template, defaults.Template, DefaultTemplate),
            Setting.Resolve<IReadOnlyList<string>>(null, manifest.AllowedRecipients, defaults.AllowedRecipients, []),
            Setting.Resolve(cli?.Commands, own?.Commands, shared?.Commands, builtIn.Commands!.Value),
            Setting.Resolve(cli?.WallTime, own?.WallTime, shared?.WallTime, builtIn.WallTime!.Value),
            Setting.Resolve(cli?.Tokens, own?.Tokens, shared?.Tokens, builtIn.Tokens!.Value),
            Setting.Resolve(cli?.CostUsd, own?.CostUsd, shared?.CostUsd, builtIn.CostUsd!.Value));
    }
}
