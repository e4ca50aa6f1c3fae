using Apiary.IO;

namespace Apiary.Home;

/// <summary>
/// Which sessions still have a live process, across processes: a process holds an exclusive lock on
/// <c>run/sessions/&lt;id&gt;.lock</c> while a session of its own runs, and the kernel drops the lock when the process
/// ends, however it ends. Recovery asks <see cref="IsAlive"/> before it gives back what a session held.
/// </summary>
public sealed class LiveSessions
{
    private readonly string _directory;

    /// <summary>Session locks in <paramref name="directory"/> (created when needed).</summary>
    public LiveSessions(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        _directory = directory;
    }

    /// <summary>The session locks of a home: <c>run/sessions</c>.</summary>
    public static LiveSessions Of(ApiaryHome home)
    {
        ArgumentNullException.ThrowIfNull(home);
        return new LiveSessions(Path.Combine(home.RunDirectory, "sessions"));
    }

    /// <summary>Marks <paramref name="sessionId"/> alive until the returned handle is disposed or this process ends.</summary>
    /// <exception cref="IOException">Another process holds the session.</exception>
    public IDisposable Hold(string sessionId)
    {
        OwnerOnly.CreateDirectory(_directory);
        var path = PathOf(sessionId);

        // FileShare.None is an exclusive advisory lock (flock) on Linux: others opening it the same way fail.
        return OwnerOnly.Open(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
    }

    /// <summary>Whether a process still holds <paramref name="sessionId"/>.</summary>
    public bool IsAlive(string sessionId)
    {
        var path = PathOf(sessionId);
        if (!File.Exists(path))
        {
            return false;
        }

        try
        {
            // Never deleted here: a holder may have just created the file and not yet locked it, and deleting it would
            // leave that holder locking a file nobody can see. A crashed holder leaves an empty file behind, no more.
            using var probe = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1);
            return false;
        }
        catch (FileNotFoundException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private string PathOf(string sessionId)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        if (sessionId.AsSpan().IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || sessionId is "." or "..")
        {
            throw new ArgumentException($"'{sessionId}' cannot name a session lock", nameof(sessionId));
        }

        return Path.Combine(_directory, sessionId + ".lock");
    }
}
