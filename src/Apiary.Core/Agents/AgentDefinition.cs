using Apiary.Configuration;

namespace Apiary.Agents;

/// <summary>One bootstrap file of an agent: whether it is there and how big it is.</summary>
/// <param name="Name">The file name, such as <c>SOUL.md</c>.</param>
/// <param name="Exists">True when the file is there.</param>
/// <param name="Bytes">Its size in bytes (0 when missing).</param>
public sealed record AgentFile(string Name, bool Exists, long Bytes);

/// <summary>Where an agent's workspace is and whether it is usable.</summary>
/// <param name="Path">The workspace folder (canonical when configured).</param>
/// <param name="IsDefault">True for <c>agents/&lt;name&gt;/workspace</c>; false when configured.</param>
/// <param name="Exists">True when the folder exists now (a default workspace is created on first use).</param>
/// <param name="Source">Where the setting came from.</param>
public sealed record AgentWorkspace(string Path, bool IsDefault, bool Exists, SettingSource Source);

/// <summary>
/// A loaded, valid agent: its name and folder, its frontmatter, the body of its <c>AGENTS.md</c>, its effective
/// settings, its workspace and the warnings found while loading it.
/// </summary>
public sealed record AgentDefinition(
    AgentName Name,
    string Directory,
    AgentManifest Manifest,
    string Body,
    AgentSettings Settings,
    AgentWorkspace Workspace,
    IReadOnlyList<AgentFile> Files,
    BootstrapRecord? Bootstrap);

/// <summary>
/// An agent folder as found in a home: the agent when it loaded, and everything found wrong with it. An entry with
/// errors has no <see cref="Definition"/> and cannot be used until fixed; the other agents are unaffected.
/// </summary>
/// <param name="Name">The agent's name.</param>
/// <param name="Directory">Its folder.</param>
/// <param name="Definition">The loaded agent, or null when it has errors.</param>
/// <param name="Diagnostics">Warnings and errors, each naming the file and, where known, line and column.</param>
public sealed record AgentEntry(AgentName Name, string Directory, AgentDefinition? Definition, IReadOnlyList<Diagnostic> Diagnostics)
{
    /// <summary>True when the agent loaded and can be used.</summary>
    public bool IsUsable => Definition is not null;

    /// <summary>The errors that keep it from loading.</summary>
    public IEnumerable<Diagnostic> Errors => Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error);

    /// <summary>The warnings about it.</summary>
    public IEnumerable<Diagnostic> Warnings => Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning);
}

/// <summary>The agents of a home, and findings about the home itself (such as folders that are not valid agent names).</summary>
/// <param name="Agents">Every agent folder with a valid name, sorted by name, usable or not.</param>
/// <param name="Diagnostics">Findings about the home and its folders.</param>
public sealed record AgentListing(IReadOnlyList<AgentEntry> Agents, IReadOnlyList<Diagnostic> Diagnostics);
