using System.Reflection;
using Apiary.IO;

namespace Apiary.Home;

/// <summary>Where the home in use was found, in the order the locations are tried.</summary>
public enum HomeSource
{
    /// <summary>The <c>--home</c> option.</summary>
    Option,

    /// <summary>The <c>APIARY_HOME</c> environment variable.</summary>
    Environment,

    /// <summary>A <c>.apiary</c> folder in the current directory.</summary>
    CurrentDirectory,

    /// <summary><c>~/.apiary</c>.</summary>
    UserHome,
}

/// <summary>
/// An Apiary home: the folder that holds an operator's agents, sandbox templates, policies and configuration.
/// Everything Apiary knows about a deployment starts here.
/// </summary>
public sealed class ApiaryHome
{
    /// <summary>The environment variable that names the home when <c>--home</c> is not given.</summary>
    public const string EnvironmentVariable = "APIARY_HOME";

    /// <summary>The name of the home folder in the current directory or the user's home.</summary>
    public const string FolderName = ".apiary";

    /// <summary>The file with home-wide settings.</summary>
    public const string ConfigFileName = "apiary.yaml";

    /// <summary>The folder of the home's keys and tokens (0700): secrets' key, tokens, the log's signing key.</summary>
    public const string KeysFolderName = "keys";

    /// <summary>Creates a home rooted at <paramref name="root"/>; <paramref name="userHome"/> is what <c>~</c> means.</summary>
    public ApiaryHome(string root, string userHome, HomeSource source = HomeSource.Option)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentException.ThrowIfNullOrEmpty(userHome);
        Root = Path.GetFullPath(root);
        UserHome = Path.GetFullPath(userHome);
        Source = source;
    }

    /// <summary>The home folder, absolute.</summary>
    public string Root { get; }

    /// <summary>The operator's own home directory, which <c>~</c> expands to.</summary>
    public string UserHome { get; }

    /// <summary>How this home was chosen.</summary>
    public HomeSource Source { get; }

    /// <summary>The folder of agent definitions, one sub-folder each.</summary>
    public string AgentsDirectory => Path.Combine(Root, "agents");

    /// <summary>The folder of sandbox templates.</summary>
    public string TemplatesDirectory => Path.Combine(Root, "templates");

    /// <summary>The folder of policy files.</summary>
    public string PoliciesDirectory => Path.Combine(Root, "policies");

    /// <summary>Where running processes keep what lives only as long as they do: <c>run/</c> (session locks, ...).</summary>
    public string RunDirectory => Path.Combine(Root, "run");

    /// <summary>The home-wide settings file.</summary>
    public string ConfigFile => Path.Combine(Root, ConfigFileName);

    /// <summary>True when the home folder exists and has an agents folder.</summary>
    public bool Exists => Directory.Exists(AgentsDirectory);

    /// <summary>
    /// Finds the home: <paramref name="option"/> (from <c>--home</c>), else <paramref name="environmentValue"/>
    /// (from <c>APIARY_HOME</c>), else <c>./.apiary</c> if it exists, else <c>~/.apiary</c>.
    /// </summary>
    public static ApiaryHome Locate(string? option, string? environmentValue, string currentDirectory, string userHome)
    {
        if (!string.IsNullOrWhiteSpace(option))
        {
            return new ApiaryHome(Expand(option, userHome, currentDirectory), userHome, HomeSource.Option);
        }

        if (!string.IsNullOrWhiteSpace(environmentValue))
        {
            return new ApiaryHome(Expand(environmentValue, userHome, currentDirectory), userHome, HomeSource.Environment);
        }

        var local = Path.Combine(currentDirectory, FolderName);
        return Directory.Exists(local)
            ? new ApiaryHome(local, userHome, HomeSource.CurrentDirectory)
            : new ApiaryHome(Path.Combine(userHome, FolderName), userHome, HomeSource.UserHome);
    }

    /// <summary>Expands a leading <c>~</c> and makes <paramref name="path"/> absolute against <paramref name="currentDirectory"/>.</summary>
    public static string Expand(string path, string userHome, string currentDirectory)
    {
        ArgumentNullException.ThrowIfNull(path);
        var expanded = path == "~" ? userHome
            : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(userHome, path[2..])
            : path;
        return Path.GetFullPath(expanded, currentDirectory);
    }

    /// <summary>
    /// Creates the home's folders and writes the sample agents, templates, policies and settings, every folder 0700 and
    /// every file 0600 from its creation. Files that already exist are kept as they are, so running it again never loses
    /// an operator's changes.
    /// </summary>
    /// <returns>Each file of the sample home, relative to <see cref="Root"/>, and whether it was written now.</returns>
    public async Task<IReadOnlyList<(string Path, bool Created)>> InitializeAsync(CancellationToken cancellationToken = default)
    {
        CreatePrivateDirectory(Root);
        foreach (var folder in new[] { AgentsDirectory, TemplatesDirectory, PoliciesDirectory })
        {
            OwnerOnly.CreateDirectory(folder);
        }

        var results = new List<(string, bool)>();
        var assembly = typeof(ApiaryHome).Assembly;
        const string Prefix = "home/";
        foreach (var resource in assembly.GetManifestResourceNames().Where(r => r.StartsWith(Prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            var relative = resource[Prefix.Length..].Replace('\\', '/');
            var target = Path.Combine(Root, relative);
            if (File.Exists(target))
            {
                results.Add((relative, false));
                continue;
            }

            OwnerOnly.CreateDirectory(Path.GetDirectoryName(target)!);
            await using var source = assembly.GetManifestResourceStream(resource)!;
            await using (var file = OwnerOnly.Open(target))
            {
                await source.CopyToAsync(file, cancellationToken).ConfigureAwait(false);
            }

            results.Add((relative, true));
        }

        return results;
    }

    /// <summary>Creates <paramref name="path"/> (and its parents) and makes it readable by its owner only.</summary>
    internal static void CreatePrivateDirectory(string path)
    {
        // The home alone: folders above it that are missing are made as any other would be.
        Directory.CreateDirectory(path, OwnerOnly.FolderPermissions);
        File.SetUnixFileMode(path, OwnerOnly.FolderPermissions);
    }

    /// <summary>The sample home files this build ships, relative to a home root.</summary>
    internal static IEnumerable<string> SampleFiles =>
        Assembly.GetExecutingAssembly().GetManifestResourceNames().Where(r => r.StartsWith("home/", StringComparison.Ordinal)).Select(r => r[5..]);
}
