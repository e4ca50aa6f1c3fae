namespace Apiary.Agents;

/// <summary>What an agent is for within a hive.</summary>
public enum AgentRole
{
    /// <summary>Does work it is given (the default).</summary>
    Worker,

    /// <summary>Splits work among workers and may ask to spawn or update them.</summary>
    Manager,
}

/// <summary>
/// The settings an agent's <c>AGENTS.md</c> frontmatter declares. Every value is <see langword="null"/> when the
/// frontmatter does not set it, so that home defaults apply only where the agent is silent
/// (see <see cref="AgentSettings"/>).
/// </summary>
public sealed record AgentManifest
{
    /// <summary>A manifest that sets nothing.</summary>
    public static AgentManifest Empty { get; } = new();

    /// <summary>One line on what the agent does.</summary>
    public string? Description { get; init; }

    /// <summary><c>manager</c> or <c>worker</c>.</summary>
    public AgentRole? Role { get; init; }

    /// <summary>The model as <c>endpoint/model</c>, for example <c>local/llama3.2</c>.</summary>
    public string? Model { get; init; }

    /// <summary>The named set of tools the agent is offered.</summary>
    public string? ToolProfile { get; init; }

    /// <summary>An absolute (or <c>~</c>-relative) workspace folder instead of the default one.</summary>
    public string? Workspace { get; init; }

    /// <summary>The sandbox template its commands run in, a file in the home's <c>templates/</c>.</summary>
    public string? Template { get; init; }

    /// <summary>Who it may message: agent names or <c>operator</c>.</summary>
    public IReadOnlyList<string>? AllowedRecipients { get; init; }

    /// <summary>Limits per session.</summary>
    public AgentBudget? Budget { get; init; }

}

/// <summary>The limits of one session of an agent; a <see langword="null"/> limit is not set at this level.</summary>
/// <param name="Commands">The most commands a session may run.</param>
/// <param name="WallTime">The longest a session may run.</param>
/// <param name="Tokens">The most model tokens (input and output) a session may use.</param>
/// <param name="CostUsd">The most a session may spend on models, in US dollars.</param>
public sealed record AgentBudget(int? Commands = null, TimeSpan? WallTime = null, long? Tokens = null, decimal? CostUsd = null)
{
    /// <summary>Fills each limit this budget does not set from <paramref name="fallback"/>.</summary>
    public AgentBudget Or(AgentBudget? fallback) =>
        fallback is null
            ? this
            : new AgentBudget(
                Commands ?? fallback.Commands,
                WallTime ?? fallback.WallTime,
                Tokens ?? fallback.Tokens,
                CostUsd ?? fallback.CostUsd);
}
