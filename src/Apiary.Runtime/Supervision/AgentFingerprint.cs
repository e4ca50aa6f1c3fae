using System.Security.Cryptography;
using System.Text;

namespace Apiary.Runtime.Supervision;

/// <summary>
/// What an agent's definition is made of, as hashes: one per file of its folder and one over all of them. Its workspace,
/// its state (<c>.state</c>) and its <c>MEMORY.md</c> (which the agent itself appends to while it runs) are left out,
/// so only a change to the definition makes a running agent <c>needs-update</c>.
/// </summary>
internal sealed record AgentFingerprint(string Value, IReadOnlyDictionary<string, string> Files)
{
    /// <summary>The most files hashed; a folder with more is still fingerprinted by the first ones in order.</summary>
    private const int MaxFiles = 256;

    /// <summary>The fingerprint of the agent folder <paramref name="folder"/>; an empty one when the folder is gone.</summary>
    public static AgentFingerprint Of(string folder)
    {
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (Directory.Exists(folder))
        {
            var queue = new Queue<string>([folder]);
            while (queue.TryDequeue(out var current) && files.Count < MaxFiles)
            {
                IEnumerable<FileSystemInfo> entries;
                try
                {
                    entries = new DirectoryInfo(current).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal).ToList();
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    continue;
                }

                foreach (var entry in entries)
                {
                    var relative = Path.GetRelativePath(folder, entry.FullName).Replace('\\', '/');
                    if (relative is "workspace" or ".state" or "MEMORY.md" || entry.Name.Contains(".spawn-", StringComparison.Ordinal) || entry.LinkTarget is not null)
                    {
                        continue;
                    }

                    if (entry is DirectoryInfo)
                    {
                        queue.Enqueue(entry.FullName);
                    }
                    else if (Hash(entry.FullName) is { } hash && files.Count < MaxFiles)
                    {
                        files[relative] = hash;
                    }
                }
            }
        }

        var all = new StringBuilder();
        foreach (var (name, hash) in files)
        {
            all.Append(name).Append('\0').Append(hash).Append('\n');
        }

        return new AgentFingerprint(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(all.ToString())))[..16], files);
    }

    /// <summary>The files that differ between <paramref name="before"/> and this fingerprint: changed, added or removed.</summary>
    public IReadOnlyList<string> ChangedSince(AgentFingerprint? before) =>
        before is null
            ? [.. Files.Keys]
            : [.. Files.Keys.Union(before.Files.Keys).Where(f => Files.GetValueOrDefault(f) != before.Files.GetValueOrDefault(f)).Order(StringComparer.Ordinal)];

    private static string? Hash(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            return Convert.ToHexStringLower(SHA256.HashData(stream))[..16];
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file being replaced right now: the next change notice fingerprints it again.
            return null;
        }
    }
}
