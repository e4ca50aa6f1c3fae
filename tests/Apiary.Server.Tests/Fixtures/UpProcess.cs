using System.Diagnostics;
using System.Net.Http.Headers;
using Apiary.Home;

namespace Apiary.Server.Tests;

/// <summary>
/// A real <c>apiary up</c> process on a home, as a user starts it (its own port, <c>HOME</c> the test's folder), with an
/// HTTP client holding the operator token. Killing it with SIGKILL is a crash: nothing of the server runs after it.
/// </summary>
internal sealed class UpProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task<string> _error;
    private ErrorLines _errorLines = new();

    private UpProcess(Process process, Task<string> error, string url, HttpClient http, Task<string> output)
    {
        _process = process;
        _error = error;
        Url = url;
        Http = http;
        Output = output;
    }

    public string Url { get; }

    /// <summary>The server's process id.</summary>
    public int Pid => _process.Id;

    /// <summary>A client of the API with the operator token.</summary>
    public HttpClient Http { get; }

    /// <summary>What it printed after its first line, once it has exited.</summary>
    public Task<string> Output { get; }

    /// <summary>Starts <c>apiary up</c> on <paramref name="home"/> and returns once it serves.</summary>
    public static async Task<UpProcess> StartAsync(ApiaryHome home, string userHome, CancellationToken cancellationToken)
    {
        var start = StartInfo(home.Root, userHome, "--urls", "http://127.0.0.1:0");
        var process = Process.Start(start)!;
        var errorLines = new ErrorLines();
        var error = errorLines.ReadAsync(process.StandardError, cancellationToken);
        try
        {
            // The first line is printed once the server is up and run/server.json is written.
            var first = await process.StandardOutput.ReadLineAsync(cancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
            if (first is null || !first.StartsWith("Apiary is up at ", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"apiary up did not start: {first}\n{await error}");
            }

            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var info = (await ServerInfo.ReadAsync(home, cancellationToken))!;
            var http = new HttpClient { BaseAddress = new Uri(info.Url) };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(home.Root, ServerInfo.OperatorTokenPath), cancellationToken)).Trim());
            return new UpProcess(process, error, info.Url, http, output) { _errorLines = errorLines };
        }
        catch
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            throw;
        }
    }

    /// <summary>How to run <c>apiary up --home <paramref name="home"/></c> with <paramref name="arguments"/> as a user would, <c>HOME</c> being <paramref name="userHome"/>, its output read by the test.</summary>
    public static ProcessStartInfo StartInfo(string home, string userHome, params string[] arguments)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])[Path.Combine(AppContext.BaseDirectory, "apiary.dll"), "up", "--home", home, .. arguments])
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["HOME"] = userHome;
        return start;
    }

    /// <summary>Kills the server with SIGKILL, as a crash or the OOM killer would, and waits until it is gone.</summary>
    public async Task KillAsync(CancellationToken cancellationToken)
    {
        _process.Kill(entireProcessTree: false);
        await _process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
    }

    /// <summary>Stops the server with SIGTERM, as a service manager does, and returns its exit code once it is gone.</summary>
    public async Task<int> StopAsync(CancellationToken cancellationToken)
    {
        using (var signal = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await signal.WaitForExitAsync(cancellationToken);
        }

        await _process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);
        return _process.ExitCode;
    }

    /// <summary>What it wrote on standard error, once it has exited.</summary>
    public Task<string> Error => _error;

    /// <summary>Returns once the server has written a line containing <paramref name="text"/> on standard error (60 seconds at most).</summary>
    public Task WaitForErrorLineAsync(string text, CancellationToken cancellationToken) =>
        _errorLines.WaitForAsync(text).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken);

    /// <summary>Standard error, read line by line, so that a test can wait for a line the server writes while it runs.</summary>
    private sealed class ErrorLines
    {
        private readonly Lock _gate = new();
        private readonly System.Text.StringBuilder _text = new();
        private readonly List<(string Text, TaskCompletionSource Seen)> _waiting = [];

        public async Task<string> ReadAsync(StreamReader error, CancellationToken cancellationToken)
        {
            while (await error.ReadLineAsync(cancellationToken) is { } line)
            {
                lock (_gate)
                {
                    _text.AppendLine(line);
                    foreach (var waiter in _waiting.Where(w => line.Contains(w.Text, StringComparison.Ordinal)).ToList())
                    {
                        waiter.Seen.TrySetResult();
                        _waiting.Remove(waiter);
                    }
                }
            }

            lock (_gate)
            {
                return _text.ToString();
            }
        }

        public Task WaitForAsync(string text)
        {
            lock (_gate)
            {
                if (_text.ToString().Contains(text, StringComparison.Ordinal))
                {
                    return Task.CompletedTask;
                }

                var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiting.Add((text, seen));
                return seen.Task;
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        Http.Dispose();
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
