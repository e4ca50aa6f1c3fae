using System.Text.Json;
using Apiary.Client;
using Apiary.Contracts;

namespace Apiary.Cli.Tests;

/// <summary><c>apiary events</c> against a real server, in-process.</summary>
public sealed class EventsCommandServerTests
{
    [Fact]
    public async Task Events_Json_PrintsTheLogFromTheServer()
    {
        await using var server = await RunningServer.StartAsync();
        using var client = await ApiaryClient.ConnectAsync(server.Home, TestContext.Current.CancellationToken);
        var opened = await client.OpenSessionAsync("coder", TestContext.Current.CancellationToken);

        var result = await RunAsync(server, new StringWriter(), TestContext.Current.CancellationToken, "events", "--json", "--session", opened.Session.Id);

        Assert.Equal(0, result.ExitCode);
        var events = result.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.NotEmpty(events);
        Assert.All(events, e => Assert.Contains(opened.Session.Id, e.GetRawText(), StringComparison.Ordinal));
        Assert.Equal(events.Select(e => e.GetProperty("position").GetInt64()).Order(), events.Select(e => e.GetProperty("position").GetInt64()));
    }

    [Fact]
    public async Task Events_Follow_PrintsNewEventsLiveAndCtrlCExits130()
    {
        await using var server = await RunningServer.StartAsync();
        using var client = await ApiaryClient.ConnectAsync(server.Home, TestContext.Current.CancellationToken);
        using var output = new Lines();
        using var interrupt = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);

        // --from 1 replays the log first, so the first line proves the stream is connected before anything new happens.
        var following = RunAsync(server, output, interrupt.Token, "events", "--follow", "--from", "1");
        await output.WaitForAsync(_ => true);
        var opened = await client.OpenSessionAsync("coder", TestContext.Current.CancellationToken);
        var live = await output.WaitForAsync(l => l.Contains(opened.Session.Id, StringComparison.Ordinal));
        await interrupt.CancelAsync();
        var result = await following;

        Assert.Equal(ExitCodes.Interrupted, result.ExitCode);
        Assert.Matches(@"^\s*\d+  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z  session-", live);
        var positions = output.All.Select(l => long.Parse(l.TrimStart().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(positions.Distinct().Order(), positions);
        Assert.Equal(1, positions[0]);
    }

    private static async Task<CliResult> RunAsync(RunningServer server, TextWriter output, CancellationToken cancellationToken, params string[] args)
    {
        using var error = new StringWriter();
        var context = new CliContext
        {
            In = new StringReader(""),
            Out = output,
            Error = error,
            GetEnvironmentVariable = name => name == "APIARY_HOME" ? server.HomeRoot : null,
            CurrentDirectory = server.UserHome,
            UserHome = server.UserHome,
        };
        var exitCode = await ApiaryCli.RunAsync(args, context, cancellationToken);
        return new CliResult(exitCode, output.ToString() ?? "", error.ToString());
    }

    /// <summary>An output that lets a test wait for a line as soon as it is written.</summary>
    private sealed class Lines : StringWriter
    {
        private readonly Lock _lock = new();
        private readonly List<string> _lines = [];
        private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Seen)> _waiters = [];

        public IReadOnlyList<string> All
        {
            get
            {
                lock (_lock)
                {
                    return [.. _lines];
                }
            }
        }

        public Task<string> WaitForAsync(Func<string, bool> match)
        {
            lock (_lock)
            {
                if (_lines.FirstOrDefault(match) is { } line)
                {
                    return Task.FromResult(line);
                }

                var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiters.Add((match, seen));
                return seen.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            }
        }

        public override void WriteLine(string? value)
        {
            base.WriteLine(value);
            Add(value ?? "");
        }

        public override Task WriteLineAsync(string? value)
        {
            WriteLine(value);
            return Task.CompletedTask;
        }

        private void Add(string line)
        {
            lock (_lock)
            {
                _lines.Add(line);
                foreach (var waiter in _waiters.Where(w => w.Match(line)).ToList())
                {
                    waiter.Seen.TrySetResult(line);
                    _waiters.Remove(waiter);
                }
            }
        }
    }
}
