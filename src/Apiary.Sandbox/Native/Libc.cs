using System.Runtime.InteropServices;

namespace Apiary.Sandbox.Native;

/// <summary>The few Linux calls .NET does not expose.</summary>
internal static partial class Libc
{
    public const int SIGTERM = 15;
    public const int SIGKILL = 9;

    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EACCES = 13;
    public const int EEXIST = 17;
    public const int ENOTDIR = 20;
    public const int EISDIR = 21;
    public const int ELOOP = 40;
    public const int EXDEV = 18;
    public const int ENOSYS = 38;
    public const int EAGAIN = 11;

    public const int O_RDONLY = 0;
    public const int O_WRONLY = 1;
    public const int O_CREAT = 0x40;
    public const int O_TRUNC = 0x200;

    /// <summary>Never wait on opening a FIFO a command planted where a file was expected.</summary>
    public const int O_NONBLOCK = 0x800;
    public const int O_DIRECTORY = 0x10000;
    public const int O_NOFOLLOW = 0x20000;
    public const int O_CLOEXEC = 0x80000;
    public const int O_PATH = 0x200000;

    /// <summary>Resolve the path as if the directory fd were the root: no symlink or <c>..</c> can leave it.</summary>
    public const ulong RESOLVE_IN_ROOT = 0x10;

    /// <summary>Refuse any symbolic link on the way.</summary>
    public const ulong RESOLVE_NO_SYMLINKS = 0x04;

    /// <summary>Refuse to leave the directory fd (no <c>..</c> above it, no absolute paths).</summary>
    public const ulong RESOLVE_BENEATH = 0x08;

    /// <summary>Refuse <c>/proc/self/fd</c>-style magic links.</summary>
    public const ulong RESOLVE_NO_MAGICLINKS = 0x02;

    private const long SysOpenat2 = 437;

    [StructLayout(LayoutKind.Sequential)]
    public struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "mkdirat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MkdirAt(int dirfd, string path, uint mode);

    public const int PR_SET_CHILD_SUBREAPER = 36;
    public const int WNOHANG = 1;

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    public static partial int WaitPid(int pid, out int status, int options);

    public const int RLIMIT_CPU = 0;
    public const int RLIMIT_FSIZE = 1;
    public const int RLIMIT_NOFILE = 7;
    public const int RLIMIT_AS = 9;

    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport("libc", EntryPoint = "prlimit", SetLastError = true)]
    public static partial int Prlimit(int pid, int resource, in RLimit newLimit, nint oldLimit);

    [LibraryImport("libc", EntryPoint = "mkfifo", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int MkFifo(string path, uint mode);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    [LibraryImport("libc", EntryPoint = "fchown", SetLastError = true)]
    public static partial int Fchown(int fd, int uid, int gid);

    public const int AT_SYMLINK_NOFOLLOW = 0x100;

    [LibraryImport("libc", EntryPoint = "fchownat", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int FchownAt(int dirfd, string path, int uid, int gid, int flags);

    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

    /// <summary>The owner uid of <paramref name="path"/> (not following a final symbolic link), or -1 with errno set.</summary>
    public static unsafe long OwnerOf(string path)
    {
        // struct statx is the same on every architecture: stx_uid is the u32 at byte 20.
        var buffer = stackalloc byte[256];
        return Statx(-100, path, AT_SYMLINK_NOFOLLOW, 0x8 /* STATX_UID */, buffer) == 0 ? *(uint*)(buffer + 20) : -1;
    }

    private const long SysPidfdOpen = 434;

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, int pid, uint flags);

    /// <summary>pidfd_open(2): a descriptor that becomes readable when <paramref name="pid"/> exits; -1 when it is gone.</summary>
    public static int PidfdOpen(int pid) => (int)Syscall(SysPidfdOpen, pid, 0);

    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    public const short POLLIN = 1;

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll([In, Out] PollFd[] fds, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long Syscall(long number, int dirfd, string path, ref OpenHow how, nuint size);

    /// <summary>openat2(2): opens <paramref name="path"/> relative to <paramref name="dirfd"/> with resolve restrictions.</summary>
    /// <returns>The file descriptor, or -1 with <see cref="Marshal.GetLastPInvokeError"/> set.</returns>
    public static int OpenAt2(int dirfd, string path, int flags, uint mode, ulong resolve)
    {
        var how = new OpenHow { Flags = (ulong)flags, Mode = mode, Resolve = resolve };

        // With RESOLVE_IN_ROOT or RESOLVE_BENEATH the kernel answers EAGAIN when a rename or mount anywhere on the
        // machine raced a '..' it resolved (sandboxes mount all the time): it asks to be tried again, so it is.
        for (var attempt = 0; ; attempt++)
        {
            var fd = (int)Syscall(SysOpenat2, dirfd, path, ref how, (nuint)Marshal.SizeOf<OpenHow>());
            if (fd >= 0 || Marshal.GetLastPInvokeError() != EAGAIN || attempt == 1000)
            {
                return fd;
            }
        }
    }
}
