using System.Text;
using Apiary.Protocol;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Templates;
using Apiary.Testing;

namespace Apiary.Sandbox.Tests;

/// <summary>One real bubblewrap backend for a test class.</summary>
public sealed class BubblewrapFixture : IDisposable
{
    public BubblewrapFixture() => Backend = BubblewrapBackend.Create();

    public BubblewrapBackend Backend { get; }

    public void Dispose() => Backend.Dispose();
}

/// <summary>What a command produced: its output by stream and how it ended.</summary>
public sealed record ExecOutcome(string Stdout, string Stderr, CompleteObservation? Complete, ErrorObservation? Error, IReadOnlyList<Observation> Observations)
{
    public int? ExitCode => Complete?.ExitCode;

    public override string ToString() => $"exit={Complete?.ExitCode} reason={Complete?.Reason} error={Error?.Message}\nstdout: {Stdout}\nstderr: {Stderr}";
}

/// <summary>Helpers to run commands in a session and collect what they did.</summary>
public static class SessionExtensions
{
    private static int _ids;

    public static async Task<ExecOutcome> RunAsync(this ISandboxSession session, string command, params string[] args) =>
        await session.RunAsync(new ExecCommand { RequestId = NextId(), Command = command, Args = args });

    public static Task<ExecOutcome> ShAsync(this ISandboxSession session, string script) =>
        session.RunAsync("/bin/sh", "-c", script);

    public static async Task<ExecOutcome> RunAsync(this ISandboxSession session, ExecCommand exec)
    {
        var stdout = new MemoryStream();
        var stderr = new MemoryStream();
        var all = new List<Observation>();
        CompleteObservation? complete = null;
        ErrorObservation? error = null;
        await foreach (var observation in session.ExecuteAsync(exec, TestContext.Current.CancellationToken))
        {
            all.Add(observation);
            switch (observation)
            {
                case OutputObservation { Stream: OutputChannel.Stdout } o:
                    stdout.Write(o.Data);
                    break;
                case OutputObservation o:
                    stderr.Write(o.Data);
                    break;
                case CompleteObservation c:
                    complete = c;
                    break;
                case ErrorObservation e:
                    error = e;
                    break;
            }
        }

        return new ExecOutcome(Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()), complete, error, all);
    }

    public static async Task<Observation> SingleAsync(this ISandboxSession session, Command command)
    {
        var all = new List<Observation>();
        await foreach (var observation in session.ExecuteAsync(command, TestContext.Current.CancellationToken))
        {
            all.Add(observation);
        }

        return Assert.Single(all);
    }

    public static string NextId() => $"r-{Interlocked.Increment(ref _ids)}";

    public static SandboxSessionOptions Options(TempDirectory workspace, SandboxTemplate? template = null) => new()
    {
        Workspace = workspace.Path,
        Template = template ?? SandboxTemplate.Default,
        KillGrace = TimeSpan.FromMilliseconds(500),
    };
}
