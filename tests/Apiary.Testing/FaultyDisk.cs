using System.Diagnostics;

namespace Apiary.Testing;

/// <summary>
/// A small file system of its own (tmpfs) that a test can fill up and free, and whose files it can make immutable: real
/// write faults (ENOSPC, EPERM), as a full or misconfigured disk gives them. Mounting and <c>chattr</c> take root;
/// <see cref="Available"/> says whether this process has it (CI runs as root).
/// </summary>
public sealed class FaultyDisk : IDisposable
{
    private readonly TempDirectory _mountPoint = new("apiary-disk");

    /// <summary>Mounts a file system of <paramref name="megabytes"/> MiB.</summary>
    public FaultyDisk(int megabytes = 16)
    {
        Run("mount", "-t", "tmpfs", "-o", $"size={megabytes}m,mode=0700", "tmpfs", _mountPoint.Path);
    }

    private static readonly Lazy<bool> CanFault = new(() =>
    {
        if (Environment.UserName != "root")
        {
            return false;
        }

        // Root in a container may still lack the right to mount: tried once, for real.
        try
        {
            using var disk = new FaultyDisk(megabytes: 1);
            File.WriteAllText(disk["probe"], "");
            Freeze(disk["probe"]).Dispose();
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    });

    /// <summary>Whether this process may mount a file system and set immutable flags (root, outside a confining container).</summary>
    public static bool Available => CanFault.Value;

    /// <summary>The mounted folder.</summary>
    public string Path => _mountPoint.Path;

    /// <summary>The absolute path of <paramref name="relative"/> inside the mounted folder.</summary>
    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    private string Filler => this[".filler"];

    /// <summary>Writes to a file of its own until the file system has no room left.</summary>
    public void Fill()
    {
        var block = new byte[64 * 1024];
        using var filler = new FileStream(Filler, FileMode.Append, FileAccess.Write, FileShare.None, 1);
        try
        {
            while (true)
            {
                filler.Write(block);
            }
        }
        catch (IOException)
        {
            // No space left on device: full.
        }
    }

    /// <summary>Gives back the room <see cref="Fill"/> took.</summary>
    public void Free() => File.Delete(Filler);

    /// <summary>
    /// Makes <paramref name="path"/> immutable (<c>chattr +i</c>: nobody may write to it, root included) until the value
    /// returned is disposed. Any file system with inode flags will do, not only this one.
    /// </summary>
    public static IDisposable Freeze(string path)
    {
        Run("chattr", "+i", path);
        return new Frozen(path);
    }

    /// <summary>Unmounts (lazily, if something still holds a file open).</summary>
    public void Dispose()
    {
        Run("umount", "-l", Path);
        _mountPoint.Dispose();
    }

    private sealed class Frozen(string path) : IDisposable
    {
        private int _thawed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _thawed, 1) == 0)
            {
                Run("chattr", "-i", path);
            }
        }
    }

    private static void Run(string program, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited {process.ExitCode}: {error}");
        }
    }
}
