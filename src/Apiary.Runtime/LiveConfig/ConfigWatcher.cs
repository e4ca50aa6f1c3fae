using System.Collections.Concurrent;
using System.Threading.Channels;
using Apiary.Models;
using Apiary.Runtime.Telemetry;

namespace Apiary.Runtime.LiveConfig;

/// <summary>
/// Notices changes of the home's configuration files and has <see cref="LiveConfiguration"/> reload the parts they
/// belong to, once the files have been quiet for <see cref="Debounce"/> (an editor's save is often several writes, or a
/// write to a temporary file renamed into place). It watches the home's own folder (for <c>apiary.yaml</c>,
/// <c>models.yaml</c>, and the <c>policies</c> and <c>templates</c> folders appearing, going or being replaced) and each of
/// those two folders; a change that leaves a part's files as they were changes nothing (the reload compares versions).
/// </summary>
internal sealed class ConfigWatcher : IAsyncDisposable
{
    /// <summary>How long the files must be quiet before a reload.</summary>
    public static readonly TimeSpan Debounce = TimeSpan.FromMilliseconds(300);

    private readonly RuntimeContext _context;
    private readonly LiveConfiguration _live;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, byte> _dirty = new(StringComparer.Ordinal);

    // One wake-up is enough however many changes come before the loop takes it: when full, further writes are dropped.
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Lock _watchersGate = new();
    private readonly Dictionary<string, FileSystemWatcher> _folders = new(StringComparer.Ordinal);
    private FileSystemWatcher? _root;
    private Task _loop = Task.CompletedTask;

    private ConfigWatcher(RuntimeContext context, LiveConfiguration live)
    {
        _context = context;
        _live = live;
    }

    /// <summary>Starts watching the home of <paramref name="context"/>.</summary>
    public static ConfigWatcher Start(RuntimeContext context, LiveConfiguration live)
    {
        var watcher = new ConfigWatcher(context, live);
        watcher._root = watcher.Watch(context.Home.Root, watcher.OnRootChange);
        watcher.WatchFolder(ConfigParts.Policies);
        watcher.WatchFolder(ConfigParts.Templates);
        watcher._loop = Task.Run(() => watcher.RunAsync(watcher._stopping.Token), CancellationToken.None);

        // Whatever changed between the load at start and the watch is caught up with.
        foreach (var part in ConfigParts.All)
        {
            watcher.MarkDirty(part);
        }

        return watcher;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        lock (_watchersGate)
        {
            _root?.Dispose();
            foreach (var folder in _folders.Values)
            {
                folder.Dispose();
            }

            _folders.Clear();
        }

        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The loop ends by cancellation.
        }

        _stopping.Dispose();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        while (await _wake.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            // Quiet for the debounce: changes during the wait start it again.
            while (_wake.Reader.TryRead(out _))
            {
                await Task.Delay(Debounce, _context.Time, cancellationToken).ConfigureAwait(false);
            }

            foreach (var part in ConfigParts.All)
            {
                if (_dirty.TryRemove(part, out _))
                {
                    await _live.ReloadAsync(part, cancellationToken).ConfigureAwait(false);
                }
            }
        }
    }

    private void MarkDirty(string part)
    {
        _dirty[part] = 0;
        _wake.Writer.TryWrite(true);
    }

    private void OnRootChange(object sender, FileSystemEventArgs e)
    {
        foreach (var name in e is RenamedEventArgs renamed ? [renamed.OldName, renamed.Name] : new[] { e.Name })
        {
            switch (name)
            {
                case "apiary.yaml":
                    MarkDirty(ConfigParts.Config);
                    break;
                case ModelsFile.FileName:
                    MarkDirty(ConfigParts.Models);
                    break;
                case ConfigParts.Policies or ConfigParts.Templates:
                    // The folder appeared, went or was replaced: watch the one there is now.
                    WatchFolder(name);
                    MarkDirty(name);
                    break;
            }
        }
    }

    private void WatchFolder(string part)
    {
        var path = Path.Combine(_context.Home.Root, part);
        lock (_watchersGate)
        {
            if (_stopping.IsCancellationRequested)
            {
                return;
            }

            if (_folders.Remove(part, out var old))
            {
                old.Dispose();
            }

            if (Directory.Exists(path) && Watch(path, (_, _) => MarkDirty(part)) is { } watcher)
            {
                _folders[part] = watcher;
            }
        }
    }

    private FileSystemWatcher? Watch(string path, FileSystemEventHandler onChange)
    {
        try
        {
            var watcher = new FileSystemWatcher(path)
            {
                IncludeSubdirectories = false,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
            };
            watcher.Changed += onChange;
            watcher.Created += onChange;
            watcher.Deleted += onChange;
            watcher.Renamed += (sender, e) => onChange(sender, e);
            watcher.Error += (_, e) =>
            {
                // Events were lost (the kernel's queue overflowed): every part is read again, which finds what changed.
                RuntimeLog.ConfigWatchTrouble(_context.Log, path, e.GetException().Message);
                foreach (var part in ConfigParts.All)
                {
                    MarkDirty(part);
                }
            };
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
        {
            RuntimeLog.ConfigWatchTrouble(_context.Log, path, ex.Message);
            return null;
        }
    }
}
