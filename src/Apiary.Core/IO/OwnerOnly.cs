using System.Security.Cryptography;

namespace Apiary.IO;

/// <summary>
/// Files and folders only their owner may use: files 0600, folders 0700, from the moment they exist (created with that
/// mode, never created looser and tightened after). Everything Apiary writes in a home goes through here, and a server's
/// start tightens what is there (<see cref="TightenTree"/>).
/// </summary>
public static class OwnerOnly
{
    /// <summary>The mode of a file: read and write for its owner (0600).</summary>
    public const UnixFileMode FilePermissions = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>The mode of a folder: read, write and enter for its owner (0700).</summary>
    public const UnixFileMode FolderPermissions = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private const UnixFileMode GroupAndOthers =
        UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Creates <paramref name="path"/> and the folders missing on the way to it, each 0700; one that exists is left as it is.</summary>
    public static DirectoryInfo CreateDirectory(string path)
    {
        // Directory.CreateDirectory gives the mode to the last folder only, and the default mode to those above it.
        var full = Path.GetFullPath(path);
        var missing = new Stack<string>();
        for (var folder = full; folder is not null && !Directory.Exists(folder); folder = Path.GetDirectoryName(folder))
        {
            missing.Push(folder);
        }

        while (missing.TryPop(out var folder))
        {
            Directory.CreateDirectory(folder, FolderPermissions);
        }

        return new DirectoryInfo(full);
    }

    /// <summary>Opens <paramref name="path"/>; a file it creates is 0600 from its first byte.</summary>
    /// <param name="path">The file.</param>
    /// <param name="mode">How to open it: one of the modes that may create it (<see cref="FileMode.CreateNew"/>, <see cref="FileMode.Create"/>, <see cref="FileMode.OpenOrCreate"/>).</param>
    /// <param name="access">What the stream may do.</param>
    /// <param name="share">What others may do meanwhile; <see cref="FileShare.None"/> is an exclusive lock.</param>
    /// <param name="bufferSize">The stream's buffer; 0 or 1 for none.</param>
    /// <param name="options">Further options (<see cref="FileOptions.DeleteOnClose"/>, <see cref="FileOptions.Asynchronous"/>).</param>
    public static FileStream Open(
        string path, FileMode mode = FileMode.CreateNew, FileAccess access = FileAccess.Write, FileShare share = FileShare.Read, int bufferSize = 4096, FileOptions options = FileOptions.None) =>
        new(path, new FileStreamOptions { Mode = mode, Access = access, Share = share, BufferSize = bufferSize, Options = options, UnixCreateMode = FilePermissions });

    /// <summary>
    /// Writes <paramref name="bytes"/> to a new 0600 file, flushed to disk, then renames it to <paramref name="path"/>, so no
    /// reader ever sees a partial file or a moment of looser permissions.
    /// </summary>
    /// <param name="path">The file to write or replace.</param>
    /// <param name="bytes">Its new content.</param>
    /// <param name="temporaryFolder">Where the new file is made before its rename (on the same file system); default beside <paramref name="path"/>.</param>
    /// <param name="cancellationToken">Cancels the write; the file is then as it was.</param>
    public static async Task WriteAllBytesAsync(string path, ReadOnlyMemory<byte> bytes, string? temporaryFolder = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var temporary = Path.Combine(
            temporaryFolder ?? Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.tmp");
        try
        {
            var stream = Open(temporary, options: FileOptions.Asynchronous);
            await using (stream.ConfigureAwait(false))
            {
                await stream.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Reads a file of at most <paramref name="maxBytes"/>; a larger one is refused rather than read whole.</summary>
    /// <exception cref="InvalidDataException">The file is larger than <paramref name="maxBytes"/>.</exception>
    public static async Task<byte[]> ReadSmallAsync(string path, int maxBytes, CancellationToken cancellationToken = default)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, useAsync: true);
        await using (stream.ConfigureAwait(false))
        {
            if (stream.Length > maxBytes)
            {
                throw new InvalidDataException($"{path} is larger than {maxBytes} bytes");
            }

            var bytes = new byte[stream.Length];
            await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
            return bytes;
        }
    }

    /// <summary>
    /// Takes every permission of the group and of others away from <paramref name="path"/> (a file or a folder), keeping
    /// the owner's. A symbolic link is left alone: changing its mode would change its target's.
    /// </summary>
    /// <returns>True when the mode changed.</returns>
    public static bool Tighten(string path)
    {
        if (new FileInfo(path).LinkTarget is not null)
        {
            return false;
        }

        var mode = File.GetUnixFileMode(path);
        if ((mode & GroupAndOthers) == 0)
        {
            return false;
        }

        File.SetUnixFileMode(path, mode & ~GroupAndOthers);
        return true;
    }

    /// <summary>
    /// Tightens <paramref name="root"/> and everything under it (<see cref="Tighten"/>), never through a symbolic link and
    /// never inside a folder <paramref name="keepContents"/> names (its own mode is tightened, what it holds is not).
    /// </summary>
    /// <returns>What could not be tightened (a file of another owner, say), each with why.</returns>
    public static IReadOnlyList<string> TightenTree(string root, Func<string, bool> keepContents)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentNullException.ThrowIfNull(keepContents);
        var problems = new List<string>();
        var folders = new Stack<string>([root]);
        TryTighten(root, problems);
        while (folders.TryPop(out var folder))
        {
            IEnumerable<FileSystemInfo> entries;
            try
            {
                entries = new DirectoryInfo(folder).EnumerateFileSystemInfos().ToList();
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                problems.Add($"{folder}: {ex.Message}");
                continue;
            }

            foreach (var entry in entries.Where(e => e.LinkTarget is null))
            {
                TryTighten(entry.FullName, problems);
                if (entry is DirectoryInfo && !keepContents(entry.FullName))
                {
                    folders.Push(entry.FullName);
                }
            }
        }

        return problems;
    }

    private static void TryTighten(string path, List<string> problems)
    {
        try
        {
            Tighten(path);
        }
        catch (FileNotFoundException)
        {
            // Gone meanwhile: nothing left to tighten.
        }
        catch (DirectoryNotFoundException)
        {
            // Likewise.
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            problems.Add($"{path}: {ex.Message}");
        }
    }
}
