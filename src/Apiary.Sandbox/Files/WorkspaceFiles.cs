using System.Runtime.InteropServices;
using Apiary.Protocol;
using Apiary.Sandbox.Execution;
using Apiary.Sandbox.Native;
using Microsoft.Win32.SafeHandles;

namespace Apiary.Sandbox.Files;

/// <summary>
/// File operations confined to a workspace by the kernel: every path is opened with <c>openat2</c> and
/// <c>RESOLVE_IN_ROOT</c>, so <c>..</c> and symbolic links (absolute or relative) resolve as if the workspace were
/// <c>/</c>. A link planted in the workspace that points at <c>/etc/shadow</c> reaches the workspace's own
/// <c>etc/shadow</c>, never the host's.
/// </summary>
internal static class WorkspaceFiles
{
    private const ulong Resolve = Libc.RESOLVE_IN_ROOT | Libc.RESOLVE_NO_MAGICLINKS;

    /// <summary>Reads up to <see cref="ReadFileCommand.MaxBytes"/> of a file.</summary>
    public static async Task<Observation> ReadAsync(string workspace, ReadFileCommand command, CancellationToken cancellationToken)
    {
        if (Relative(command.Path) is not { } path)
        {
            return InvalidPath(command.RequestId, command.Path);
        }

        using var root = OpenRoot(workspace);
        using var handle = Open(root, path, Libc.O_RDONLY | Libc.O_NONBLOCK | Libc.O_CLOEXEC, 0, out var error);
        if (handle is null)
        {
            return Failure(command.RequestId, command.Path, error);
        }

        await using var stream = new FileStream(handle, FileAccess.Read, 1);
        var size = stream.Length;
        var take = (int)Math.Min(size, Math.Max(0, command.MaxBytes));
        var content = new byte[take];
        await stream.ReadExactlyAsync(content, cancellationToken).ConfigureAwait(false);
        return new FileContentObservation { RequestId = command.RequestId, Path = command.Path, Content = content, Size = size, Truncated = size > take };
    }

    /// <summary>
    /// Writes a file, creating its folders, within the workspace's quota. What it creates is given to
    /// <paramref name="owner"/> (the sandbox user, when the server is root), so the session's commands can change it; a
    /// set-user-ID, set-group-ID or sticky bit asked for is dropped.
    /// </summary>
    public static async Task<Observation> WriteAsync(string workspace, WriteFileCommand command, int? owner, WorkspaceQuota? quota, CancellationToken cancellationToken)
    {
        if (Relative(command.Path) is not { } path || path.Length == 0)
        {
            return InvalidPath(command.RequestId, command.Path);
        }

        using var root = OpenRoot(workspace);
        var parts = path.Split('/');
        for (var i = 0; i < parts.Length - 1; i++)
        {
            var parent = string.Join('/', parts[..i]);
            using var dir = Open(root, parent.Length == 0 ? "." : parent, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0, out var dirError);
            if (dir is null)
            {
                return Failure(command.RequestId, command.Path, dirError);
            }

            if (Libc.MkdirAt((int)dir.DangerousGetHandle(), parts[i], 0x1ED) != 0)
            {
                if (Marshal.GetLastPInvokeError() != Libc.EEXIST)
                {
                    return Failure(command.RequestId, command.Path, Marshal.GetLastPInvokeError());
                }
            }
            else if (owner is { } uid && Libc.FchownAt((int)dir.DangerousGetHandle(), parts[i], uid, uid, Libc.AT_SYMLINK_NOFOLLOW) != 0)
            {
                return Failure(command.RequestId, command.Path, Marshal.GetLastPInvokeError());
            }
        }

        // Permission bits only: a file the server writes never carries set-user-ID, set-group-ID or sticky.
        var mode = (uint)(command.Mode ?? 0x1A4) & 0x1FF;
        using var handle = Open(root, path, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_NONBLOCK | Libc.O_CLOEXEC, mode, out var error);
        if (handle is null)
        {
            return Failure(command.RequestId, command.Path, error);
        }

        await using (var stream = new FileStream(handle, FileAccess.Write, 1))
        {
            var before = stream.Length;
            if (quota is not null && command.Content.Length > before && quota.Usage + command.Content.Length - before > quota.LimitBytes)
            {
                return new ErrorObservation
                {
                    RequestId = command.RequestId,
                    Code = "disk_quota",
                    Message = $"writing {command.Path} ({command.Content.Length} bytes) would take the workspace past its disk quota of {quota.LimitBytes / (1024 * 1024)} MiB; delete files to make room",
                };
            }

            stream.SetLength(0);
            await stream.WriteAsync(command.Content, cancellationToken).ConfigureAwait(false);
            quota?.Adjust(command.Content.Length - before);
            if (owner is { } uid && Libc.Fchown((int)handle.DangerousGetHandle(), uid, uid) != 0)
            {
                return Failure(command.RequestId, command.Path, Marshal.GetLastPInvokeError());
            }
        }

        return new FileWrittenObservation { RequestId = command.RequestId, Path = command.Path, Bytes = command.Content.Length };
    }

    /// <summary>Lists a folder, sorted by name; links are reported as links, not followed.</summary>
    public static Observation List(string workspace, ListDirCommand command)
    {
        if (Relative(command.Path) is not { } path)
        {
            return InvalidPath(command.RequestId, command.Path);
        }

        using var root = OpenRoot(workspace);
        using var dir = Open(root, path.Length == 0 ? "." : path, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0, out var error);
        if (dir is null)
        {
            return Failure(command.RequestId, command.Path, error);
        }

        // The folder is read through its open descriptor, so what is listed is what openat2 resolved.
        var entries = new DirectoryInfo($"/proc/self/fd/{dir.DangerousGetHandle()}")
            .EnumerateFileSystemInfos()
            .Select(Entry)
            .OrderBy(e => e.Name, StringComparer.Ordinal)
            .ToList();
        return new DirListingObservation { RequestId = command.RequestId, Path = command.Path, Entries = entries };
    }

    /// <summary>
    /// The path relative to the workspace: accepts <c>a/b</c>, <c>./a</c> and <c>/workspace/a</c>; refuses other
    /// absolute paths and NUL bytes. <c>..</c> stays in (the kernel keeps it inside the workspace).
    /// </summary>
    internal static string? Relative(string path)
    {
        if (path.Contains('\0', StringComparison.Ordinal))
        {
            return null;
        }

        if (path.StartsWith('/'))
        {
            if (path == "/workspace")
            {
                return "";
            }

            if (!path.StartsWith("/workspace/", StringComparison.Ordinal))
            {
                return null;
            }

            path = path["/workspace/".Length..];
        }

        return string.Join('/', path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != "."));
    }

    private static DirEntry Entry(FileSystemInfo info)
    {
        var kind = info.LinkTarget is not null ? EntryKind.Symlink
            : info is DirectoryInfo ? EntryKind.Directory
            : EntryKind.File;
        var size = info is FileInfo file && kind == EntryKind.File ? file.Length : 0;
        return new DirEntry(info.Name, kind, size, (int)info.UnixFileMode);
    }

    private static SafeFileHandle OpenRoot(string workspace)
    {
        var fd = Libc.OpenAt2(-100, workspace, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0, 0);
        return fd >= 0
            ? new SafeFileHandle(fd, ownsHandle: true)
            : throw new IOException($"cannot open the workspace {workspace}: errno {Marshal.GetLastPInvokeError()}");
    }

    private static SafeFileHandle? Open(SafeFileHandle root, string path, int flags, uint mode, out int error)
    {
        var fd = Libc.OpenAt2((int)root.DangerousGetHandle(), path.Length == 0 ? "." : path, flags, mode, Resolve);
        if (fd < 0)
        {
            error = Marshal.GetLastPInvokeError();
            return null;
        }

        error = 0;
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    private static ErrorObservation InvalidPath(string requestId, string path) =>
        new() { RequestId = requestId, Code = "invalid_path", Message = $"'{path}' is not a path inside the workspace; use a relative path or one under /workspace" };

    private static ErrorObservation Failure(string requestId, string path, int errno) => errno switch
    {
        Libc.ENOENT => new() { RequestId = requestId, Code = "not_found", Message = $"'{path}' does not exist in the workspace" },
        Libc.ENOTDIR => new() { RequestId = requestId, Code = "not_a_directory", Message = $"a part of '{path}' is not a folder" },
        Libc.EISDIR => new() { RequestId = requestId, Code = "is_a_directory", Message = $"'{path}' is a folder" },
        Libc.ELOOP => new() { RequestId = requestId, Code = "invalid_path", Message = $"'{path}' has too many symbolic links" },
        Libc.EACCES => new() { RequestId = requestId, Code = "permission_denied", Message = $"'{path}' cannot be accessed" },
        Libc.ENOSYS => new() { RequestId = requestId, Code = "unsupported", Message = "this kernel lacks openat2 (Linux 5.6 or later is needed for safe file access)" },
        _ => new() { RequestId = requestId, Code = "io_error", Message = $"'{path}': errno {errno}" },
    };
}
