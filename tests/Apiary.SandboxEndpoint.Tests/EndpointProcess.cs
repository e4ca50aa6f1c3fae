using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Apiary.Protocol;
using Apiary.Testing;

namespace Apiary.SandboxEndpoint.Tests;

/// <summary>
/// The real, built <c>apiary-endpoint</c> (<c>dotnet apiary-endpoint.dll</c>) as a child process, spoken to over its
/// stdin/stdout with real frames. Every observation read is checked to carry the next sequence number. The process is
/// killed when the test's time limit passes and when the test ends with it still running.
/// </summary>
internal sealed class EndpointProcess : IAsyncDisposable
{
    /// <summary>How long one test may talk to the agent; generous, since a cold start on a busy machine is slow.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly CancellationTokenSource _timeout;
    private readonly CancellationTokenRegistration _killOnTimeout;
    private readonly StringBuilder _stderr = new();
    private readonly Lock _stderrLock = new();

    // A test's stderr is a handful of lines, so the queue needs no bound.
    private readonly Channel<string> _stderrLines = Channel.CreateUnbounded<string>();
    private readonly Task _stderrPump;
    private readonly FrameReader _reader;
    private readonly FrameWriter _writer;

    private EndpointProcess(Process process, CancellationTokenSource timeout)
    {
        _process = process;
        _timeout = timeout;

        // Killing the child ends its pipes, so no read or write can outlive the time limit, cancellable or not.
        _killOnTimeout = timeout.Token.Register(Kill);
        _stderrPump = PumpStderrAsync();
        _reader = new FrameReader(process.StandardOutput.BaseStream);
        _writer = new FrameWriter(process.StandardInput.BaseStream);
    }

    /// <summary>The program, copied beside the tests because the test project references Apiary.SandboxEndpoint.</summary>
    public static string ProgramPath => Path.Combine(AppContext.BaseDirectory, "apiary-endpoint.dll");

    /// <summary>Cancelled when the test's time limit passes.</summary>
    public CancellationToken Token => _timeout.Token;

    /// <summary>Every observation read so far, in order.</summary>
    public List<Observation> Received { get; } = [];

    /// <summary>What the agent wrote to stderr so far.</summary>
    public string Stderr
    {
        get
        {
            lock (_stderrLock)
            {
                return _stderr.ToString();
            }
        }
    }

    /// <summary>Starts <c>apiary-endpoint</c> with <paramref name="args"/>, with <c>HOME</c> set to <paramref name="userHome"/>.</summary>
    public static EndpointProcess Start(TempDirectory userHome, params string[] args) => Start(userHome, null, args);

    /// <summary>
    /// Starts <c>apiary-endpoint</c> as the unprivileged <paramref name="uid"/> (through <c>setpriv</c>, from a copy of the
    /// program that uid can read), as a server that is not root would run its sandboxes.
    /// </summary>
    public static EndpointProcess StartAs(int uid, TempDirectory userHome, params string[] args) => Start(userHome, uid, args);

    private static EndpointProcess Start(TempDirectory userHome, int? uid, string[] args)
    {
        var start = new ProcessStartInfo(uid is null ? DotnetHost() : "/usr/bin/setpriv")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = userHome.Path,
        };
        if (uid is { } id)
        {
            foreach (var arg in (string[])[$"--reuid={id}", $"--regid={id}", "--clear-groups", "--", DotnetHost()])
            {
                start.ArgumentList.Add(arg);
            }
        }

        start.ArgumentList.Add(uid is null ? ProgramPath : Path.Combine(ReadableCopy.Value, "apiary-endpoint.dll"));
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["HOME"] = userHome.Path;
        start.Environment.Remove("APIARY_HOME");
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Timeout);
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
        return new EndpointProcess(process, timeout);
    }

    /// <summary>Sends one command as a frame.</summary>
    public async Task SendAsync(Command command) => await _writer.WriteAsync(command, Token);

    /// <summary>Sends raw bytes, such as a frame that is not valid.</summary>
    public async Task SendRawAsync(byte[] bytes)
    {
        await _process.StandardInput.BaseStream.WriteAsync(bytes, Token);
        await _process.StandardInput.BaseStream.FlushAsync(Token);
    }

    /// <summary>Closes the agent's stdin: the end of the host's side of the connection.</summary>
    public void CloseInput() => _process.StandardInput.Close();

    /// <summary>Reads the next observation, which must carry the next sequence number.</summary>
    public async Task<Observation> ReadAsync()
    {
        var frame = await _reader.ReadObservationAsync(Token);
        Assert.True(frame.IsMessage, $"expected an observation, got {(frame.IsFailure ? frame.Failure!.Message : "the end of the stream")}\nstderr:\n{Stderr}");
        var observation = frame.Message!;
        Assert.Equal(Received.Count + 1, observation.Sequence);
        Received.Add(observation);
        return observation;
    }

    /// <summary>Reads the next observation, which must be a <typeparamref name="T"/>.</summary>
    public async Task<T> ReadAsync<T>()
        where T : Observation => Assert.IsType<T>(await ReadAsync());

    /// <summary>Reads observations until one matches <paramref name="match"/>, and returns it.</summary>
    public async Task<Observation> ReadUntilAsync(Func<Observation, bool> match)
    {
        while (true)
        {
            var observation = await ReadAsync();
            if (match(observation))
            {
                return observation;
            }
        }
    }

    /// <summary>Reads the handshake, which must come first.</summary>
    public async Task<ReadyObservation> ReadReadyAsync() => await ReadAsync<ReadyObservation>();

    /// <summary>True when the agent's stdout ends with no further frame.</summary>
    public async Task<bool> ReadEndOfStreamAsync() => (await _reader.ReadObservationAsync(Token)).IsEndOfStream;

    /// <summary>Waits for a line on stderr that contains <paramref name="text"/>, and returns it.</summary>
    public async Task<string> WaitForStderrLineAsync(string text)
    {
        await foreach (var line in _stderrLines.Reader.ReadAllAsync(Token))
        {
            if (line.Contains(text, StringComparison.Ordinal))
            {
                return line;
            }
        }

        throw new InvalidOperationException($"the agent's stderr ended without a line containing '{text}':\n{Stderr}");
    }

    /// <summary>Waits for the agent to exit, and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync()
    {
        await _process.WaitForExitAsync(Token);
        await _stderrPump;
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await _killOnTimeout.DisposeAsync();
        try
        {
            await _process.WaitForExitAsync(CancellationToken.None);
            await _stderrPump;
        }
        finally
        {
            _writer.Dispose();
            _process.Dispose();
            _timeout.Dispose();
        }
    }

    private void Kill()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited in the meantime.
        }
    }

    private async Task PumpStderrAsync()
    {
        try
        {
            while (await _process.StandardError.ReadLineAsync(CancellationToken.None) is { } line)
            {
                lock (_stderrLock)
                {
                    _stderr.AppendLine(line);
                }

                _stderrLines.Writer.TryWrite(line);
            }
        }
        finally
        {
            _stderrLines.Writer.TryComplete();
        }
    }

    /// <summary>A copy of the test's binaries that any user can read (the build folder may be under a private one).</summary>
    private static readonly Lazy<string> ReadableCopy = new(() =>
    {
        var copy = Directory.CreateTempSubdirectory("apiary-endpoint-bin-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(copy, recursive: true);
        foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(copy, Path.GetRelativePath(AppContext.BaseDirectory, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        foreach (var path in Directory.EnumerateFileSystemEntries(copy, "*", SearchOption.AllDirectories).Append(copy))
        {
            File.SetUnixFileMode(path, Directory.Exists(path) ? (UnixFileMode)0x1ED : (UnixFileMode)0x1A4);
        }

        return copy;
    });

    /// <summary>The <c>dotnet</c> host running the tests, so the child uses the same runtime.</summary>
    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
}
