using System.Runtime.InteropServices;
using Apiary.Events;

namespace Apiary.Storage.Sqlite;

/// <summary>
/// Keeps SQLite from touching a write-ahead-log index (the <c>-shm</c> file) the kernel would kill the process for
/// writing. Every connection writes to that file through a shared memory map, and a write to a page of a file made
/// immutable or append-only (<c>chattr +i</c>, <c>+a</c>) since it was mapped is answered with SIGBUS, which no code in
/// the process can catch. So the store looks at the file's attributes before it reads, writes or checkpoints, and fails
/// that operation with a reason instead.
/// </summary>
/// <remarks>
/// A flag set between the look and the write still kills the process: the window is the few microseconds of one
/// commit, and setting such a flag takes root (<c>CAP_LINUX_IMMUTABLE</c>), which nothing sandboxed has.
/// </remarks>
internal static partial class SharedMemoryGuard
{
    // _IOR('f', 1, long): the inode flags, as lsattr reads them.
    private const nuint GetFlags = 0x80086601;
    private const long Immutable = 0x10;
    private const long AppendOnly = 0x20;

    /// <summary>Why SQLite must not map the index of <paramref name="databasePath"/> now; null when it may.</summary>
    public static string? Refusal(string databasePath)
    {
        var index = databasePath + "-shm";
        long flags;
        try
        {
            using var handle = File.OpenHandle(index, FileMode.Open, FileAccess.Read);
            if (Ioctl((int)handle.DangerousGetHandle(), GetFlags, out flags) != 0)
            {
                // A file system without inode flags has neither flag.
                return null;
            }
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"its index {index} cannot be opened: {ex.Message}";
        }

        return (flags & (Immutable | AppendOnly)) == 0
            ? null
            : $"its index {index} is {((flags & Immutable) != 0 ? "immutable" : "append-only")} (chattr +{((flags & Immutable) != 0 ? 'i' : 'a')}), and SQLite writes to it through shared memory; make it writable again (chattr -{((flags & Immutable) != 0 ? 'i' : 'a')})";
    }

    /// <summary>Throws when SQLite must not map the index of <paramref name="databasePath"/> now.</summary>
    /// <exception cref="EventStoreException">It must not.</exception>
    public static void ThrowIfRefused(string databasePath)
    {
        if (Refusal(databasePath) is { } reason)
        {
            throw new EventStoreException($"the event store {databasePath} cannot be used: {reason}");
        }
    }

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int Ioctl(int fd, nuint request, out long flags);
}
