using System.IO.Enumeration;
using System.Runtime.InteropServices;
using Apiary.Sandbox.Native;

namespace Apiary.Sandbox.Files;

/// <summary>
/// Gives a workspace to the sandbox user when the server runs as root, so that commands (which run as that unprivileged
/// uid) can write it. Only a workspace whose folder the sandbox user does not own yet is walked: a new one, or one a
/// root sandbox of an earlier version filled. Every entry is reached from the workspace's own descriptor with
/// <c>openat2</c> refusing symbolic links and <c>..</c>, so a link planted in the tree can never hand a host file to
/// the sandbox user.
/// </summary>
internal static class WorkspaceOwner
{
    private const int AT_EMPTY_PATH = 0x1000;

    /// <summary>Makes <paramref name="uid"/> the owner of <paramref name="workspace"/> and everything in it, if it is not already.</summary>
    /// <exception cref="IOException">The workspace cannot be opened or an entry cannot be given.</exception>
    public static void Give(string workspace, int uid)
    {
        var root = Libc.OpenAt2(-100, workspace, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0, 0);
        if (root < 0)
        {
            throw new IOException($"cannot open the workspace {workspace}: errno {Marshal.GetLastPInvokeError()}");
        }

        try
        {
            if (Libc.OwnerOf(workspace) == uid)
            {
                return;
            }

            var entries = new List<string> { "" };
            var walk = new FileSystemEnumerable<string>(
                workspace,
                (ref entry) => Path.GetRelativePath(workspace, entry.ToFullPath()),
                new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = 0 })
            {
                // A symbolic link is given itself (it may point anywhere), never walked into.
                ShouldRecursePredicate = (ref entry) => (entry.Attributes & FileAttributes.ReparsePoint) == 0,
            };
            entries.AddRange(walk);
            foreach (var entry in entries)
            {
                var fd = entry.Length == 0
                    ? root
                    : Libc.OpenAt2(root, entry, Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0, Libc.RESOLVE_BENEATH | Libc.RESOLVE_NO_SYMLINKS);
                if (fd < 0)
                {
                    // Gone since it was listed, or reached only through a link: not the workspace's to give.
                    continue;
                }

                try
                {
                    if (Libc.FchownAt(fd, "", uid, uid, AT_EMPTY_PATH | Libc.AT_SYMLINK_NOFOLLOW) != 0)
                    {
                        throw new IOException($"cannot give {Path.Combine(workspace, entry)} to the sandbox user (uid {uid}): errno {Marshal.GetLastPInvokeError()}");
                    }
                }
                finally
                {
                    if (fd != root)
                    {
                        Libc.Close(fd);
                    }
                }
            }
        }
        finally
        {
            Libc.Close(root);
        }
    }
}
