using Apiary.IO;

namespace Apiary.Agents;

/// <summary>
/// Decides whether a folder may be an agent's workspace: the one folder its sandboxed commands can write. A
/// configured workspace is tilde-expanded, must be absolute and exist, is canonicalized through symbolic links, and is
/// refused inside system directories, sensitive folders of the user's home, or the Apiary home itself.
/// </summary>
public static class WorkspaceGuard
{
    /// <summary>System directories that are never a workspace, nor is anything inside them.</summary>
    public static readonly IReadOnlyList<string> SystemDirectories =
        ["/", "/etc", "/usr", "/bin", "/sbin", "/var", "/sys", "/proc", "/dev", "/boot", "/root"];

    /// <summary>Folders of the user's home that hold credentials or configuration and are never a workspace.</summary>
    public static readonly IReadOnlyList<string> SensitiveHomeFolders = [".ssh", ".gnupg", ".aws", ".config", ".apiary"];

    /// <summary>The folder name of an agent's default workspace inside its agent folder.</summary>
    public const string DefaultFolderName = "workspace";

    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>
    /// Validates a configured workspace. <paramref name="userHome"/> is what <c>~</c> means;
    /// <paramref name="apiaryHome"/> is the home in use, which a workspace may neither be inside nor contain.
    /// </summary>
    /// <returns>The canonical path, or the reason it is refused.</returns>
    public static WorkspaceResult Validate(string raw, string userHome, string apiaryHome)
    {
        ArgumentNullException.ThrowIfNull(raw);
        var expanded = raw == "~" ? userHome
            : raw.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(userHome, raw[2..])
            : raw;
        if (!Path.IsPathRooted(expanded))
        {
            return WorkspaceResult.Refused($"workspace '{raw}' is not an absolute path; write it as /path/to/folder or ~/folder");
        }

        string canonical;
        try
        {
            canonical = PathResolver.Resolve(expanded);
        }
        catch (IOException ex)
        {
            return WorkspaceResult.Refused($"workspace '{raw}' cannot be resolved: {ex.Message}");
        }

        if (!Directory.Exists(canonical))
        {
            return WorkspaceResult.Refused($"workspace '{raw}' does not exist (resolved to {canonical}); create the folder first");
        }

        foreach (var system in SystemDirectories)
        {
            // The root itself is refused, but everything lies inside it, so it is compared only for equality.
            var inside = system == "/" ? canonical == "/" : PathResolver.IsSameOrInside(canonical, Canonical(system));
            if (inside)
            {
                var where = canonical == Canonical(system) ? "the system directory" : "inside the system directory";
                return WorkspaceResult.Refused($"workspace '{raw}' resolves to {canonical}, {where} {system}");
            }
        }

        var home = Canonical(userHome);
        foreach (var folder in SensitiveHomeFolders)
        {
            var sensitive = Canonical(Path.Combine(home, folder));
            if (PathResolver.IsSameOrInside(canonical, sensitive))
            {
                return WorkspaceResult.Refused($"workspace '{raw}' resolves to {canonical}, inside ~/{folder}, which holds credentials or configuration");
            }

            if (PathResolver.IsSameOrInside(sensitive, canonical))
            {
                return WorkspaceResult.Refused($"workspace '{raw}' resolves to {canonical}, which contains ~/{folder}; an agent could read or change it");
            }
        }

        var apiary = Canonical(apiaryHome);
        if (PathResolver.IsSameOrInside(canonical, apiary))
        {
            return WorkspaceResult.Refused($"workspace '{raw}' resolves to {canonical}, inside the Apiary home {apiary}; an agent could change its own definition or policies");
        }

        if (PathResolver.IsSameOrInside(apiary, canonical))
        {
            return WorkspaceResult.Refused($"workspace '{raw}' resolves to {canonical}, which contains the Apiary home {apiary}; an agent could change its own definition or policies");
        }

        return WorkspaceResult.Accepted(canonical);
    }

    /// <summary>
    /// Checks an agent's default workspace (<c>workspace/</c> in its folder): it must be a real folder, not a
    /// symbolic link that could point anywhere.
    /// </summary>
    public static WorkspaceResult CheckDefault(string agentDirectory)
    {
        var path = Path.Combine(agentDirectory, DefaultFolderName);
        var info = new DirectoryInfo(path);
        if (info.LinkTarget is not null)
        {
            return WorkspaceResult.Refused($"the default workspace {path} is a symbolic link (to {info.LinkTarget}); it must be a real folder, so remove the link");
        }

        if (File.Exists(path))
        {
            return WorkspaceResult.Refused($"the default workspace {path} is a file; it must be a folder, so move the file away");
        }

        return WorkspaceResult.Accepted(path);
    }

    /// <summary>Creates the default workspace if needed and makes it accessible to its owner only (mode 0700).</summary>
    /// <returns>The workspace path, or why it cannot be used.</returns>
    public static WorkspaceResult EnsureDefault(string agentDirectory)
    {
        var check = CheckDefault(agentDirectory);
        if (!check.IsAccepted)
        {
            return check;
        }

        Directory.CreateDirectory(check.Path!, OwnerOnly);
        File.SetUnixFileMode(check.Path!, OwnerOnly);
        return check;
    }

    private static string Canonical(string path)
    {
        try
        {
            return PathResolver.Resolve(Path.GetFullPath(path));
        }
        catch (IOException)
        {
            return Path.GetFullPath(path);
        }
    }
}

/// <summary>The outcome of checking a workspace: its canonical path, or why it was refused.</summary>
/// <param name="Path">The canonical path when accepted.</param>
/// <param name="Reason">Why it was refused, for people.</param>
public sealed record WorkspaceResult(string? Path, string? Reason)
{
    /// <summary>True when the workspace may be used.</summary>
    public bool IsAccepted => Path is not null;

    /// <summary>An accepted workspace.</summary>
    public static WorkspaceResult Accepted(string path) => new(path, null);

    /// <summary>A refused workspace.</summary>
    public static WorkspaceResult Refused(string reason) => new(null, reason);
}
