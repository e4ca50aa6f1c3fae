namespace Apiary.Runtime.LiveConfig;

/// <summary>The event types of the home's configuration, in stream <c>config</c>.</summary>
internal static class ConfigEventTypes
{
    public const string Stream = "config";

    /// <summary>The server loaded its configuration at start: the version of each part.</summary>
    public const string Loaded = "config.loaded";

    /// <summary>A changed part loaded and is in force from now on.</summary>
    public const string Reloaded = "config.reloaded";

    /// <summary>A changed part cannot be loaded; what was in force before stays.</summary>
    public const string ReloadFailed = "config.reload_failed";
}

/// <summary>The parts of a home's configuration that are reloaded when their files change.</summary>
internal static class ConfigParts
{
    /// <summary>The <c>*.yaml</c> files of <c>policies/</c>.</summary>
    public const string Policies = "policies";

    /// <summary>The <c>*.yaml</c> files of <c>templates/</c>.</summary>
    public const string Templates = "templates";

    /// <summary><c>models.yaml</c>.</summary>
    public const string Models = "models";

    /// <summary><c>apiary.yaml</c>.</summary>
    public const string Config = "config";

    public static readonly IReadOnlyList<string> All = [Policies, Templates, Models, Config];
}

/// <summary>
/// The versions of the configuration a server started with: each the lowercase hex SHA-256 over the part's file names and
/// contents (<see cref="Apiary.Configuration.ContentHash"/>). <see cref="Problems"/> names the parts that did not load.
/// </summary>
internal sealed record ConfigLoadedData(string Policies, string Templates, string Models, string Config, IReadOnlyList<string>? Problems, DateTimeOffset At);

/// <summary>A changed part loaded: its new version (and the one it replaced), warnings, and settings that wait for a restart.</summary>
internal sealed record ConfigReloadedData(
    string Part, string Version, string? Previous, IReadOnlyList<string>? Warnings, IReadOnlyList<string>? RestartNeeded, DateTimeOffset At);

/// <summary>A changed part did not load: the version of the files that failed, the version still in force, and each error as <c>file:line:col: error: ...</c>.</summary>
internal sealed record ConfigReloadFailedData(string Part, string Version, string? Kept, IReadOnlyList<string> Errors, DateTimeOffset At);

/// <summary>A part of the configuration whose files cannot be loaded as they are now; shown until they can.</summary>
/// <param name="Part">The part (<see cref="ConfigParts"/>).</param>
/// <param name="Errors">What is wrong, each naming its file, line and column.</param>
/// <param name="Kept">What stays in force meanwhile, for people.</param>
/// <param name="Since">When the failing change was noticed.</param>
public sealed record ConfigProblem(string Part, IReadOnlyList<string> Errors, string Kept, DateTimeOffset Since)
{
    /// <inheritdoc/>
    public override string ToString() => $"{Part}: {string.Join("; ", Errors)} ({Kept})";
}
