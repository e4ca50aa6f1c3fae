namespace Apiary.IO;

/// <summary>Resolves absolute paths through every symbolic link in them, like <c>realpath(3)</c>.</summary>
public static class PathResolver
{
    private const int MaxLinks = 40;

    /// <summary>
    /// Returns the canonical form of <paramref name="absolutePath"/>: every symbolic link in every component
    /// followed, <c>.</c> and <c>..</c> removed. Components that do not exist are kept as written.
    /// </summary>
    /// <exception cref="IOException">The path has a loop of symbolic links.</exception>
    public static string Resolve(string absolutePath)
    {
        ArgumentException.ThrowIfNullOrEmpty(absolutePath);
        if (!Path.IsPathRooted(absolutePath))
        {
            throw new ArgumentException($"'{absolutePath}' is not an absolute path", nameof(absolutePath));
        }

        var pending = new Stack<string>(Split(absolutePath).Reverse());
        var resolved = new List<string>();
        var links = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (resolved.Count > 0)
                {
                    resolved.RemoveAt(resolved.Count - 1);
                }

                continue;
            }

            var candidate = Join(resolved.Append(part));
            var target = new FileInfo(candidate).LinkTarget;
            if (target is null)
            {
                resolved.Add(part);
                continue;
            }

            if (++links > MaxLinks)
            {
                throw new IOException($"too many levels of symbolic links resolving '{absolutePath}'");
            }

            // The link's target replaces it: an absolute target restarts from the root.
            if (Path.IsPathRooted(target))
            {
                resolved.Clear();
            }

            foreach (var next in Split(target).Reverse())
            {
                pending.Push(next);
            }
        }

        return Join(resolved);
    }

    /// <summary>True when <paramref name="path"/> is <paramref name="root"/> or lies inside it (both canonical).</summary>
    public static bool IsSameOrInside(string path, string root)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(root);
        var trimmedRoot = root.Length > 1 ? root.TrimEnd('/') : root;
        if (trimmedRoot == "/")
        {
            return true;
        }

        return string.Equals(path, trimmedRoot, StringComparison.Ordinal)
            || path.StartsWith(trimmedRoot + "/", StringComparison.Ordinal);
    }

    private static string[] Split(string path) => path.Split('/', StringSplitOptions.RemoveEmptyEntries);

    private static string Join(IEnumerable<string> parts) => "/" + string.Join('/', parts);
}
