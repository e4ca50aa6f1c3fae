using Xunit;

namespace Apiary.Testing;

/// <summary>Checks that files and folders are their owner's alone, as <c>stat</c> shows them.</summary>
public static class OwnerOnlyTree
{
    private const UnixFileMode GroupAndOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>
    /// Every file and folder under <paramref name="root"/> (and itself) with a permission bit for the group or for others,
    /// as <c>MODE path</c>; symbolic links are not followed (their own mode means nothing on Linux). Empty when all are
    /// owner-only.
    /// </summary>
    public static IReadOnlyList<string> Loose(string root)
    {
        var entries = new List<FileSystemInfo> { new DirectoryInfo(root) };
        entries.AddRange(new DirectoryInfo(root).EnumerateFileSystemInfos("*", new EnumerationOptions
        {
            RecurseSubdirectories = true,
            AttributesToSkip = FileAttributes.ReparsePoint,
            IgnoreInaccessible = false,
        }));
        return [.. entries.Where(e => (e.UnixFileMode & GroupAndOthers) != 0).Select(e => $"{Convert.ToString((int)e.UnixFileMode, 8)} {e.FullName}")];
    }

    /// <summary>Asserts that every file and folder under <paramref name="root"/> is owner-only, listing each that is not.</summary>
    public static void AssertOwnerOnly(string root)
    {
        var loose = Loose(root);
        Assert.True(loose.Count == 0, $"readable or writable by others under {root}:\n{string.Join('\n', loose)}");
    }
}
