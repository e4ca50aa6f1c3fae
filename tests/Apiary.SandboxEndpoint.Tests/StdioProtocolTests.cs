using System.Buffers.Binary;
using System.Text;
using Apiary.Protocol;
using Apiary.Testing;

namespace Apiary.SandboxEndpoint.Tests;

/// <summary>The real <c>apiary-endpoint</c>, with real bubblewrap sandboxes, spoken to over its stdin/stdout.</summary>
public sealed class StdioProtocolTests : IDisposable
{
    private readonly TempDirectory _home = new("apiary-endpoint-home");
    private readonly TempDirectory _workspace = new("apiary-endpoint-ws");

    public void Dispose()
    {
        _workspace.Dispose();
        _home.Dispose();
    }

    private EndpointProcess Start(params string[] extra) => EndpointProcess.Start(_home, ["--workspace", _workspace.Path, .. extra]);

    /// <summary>An exec that says when it is running, then waits to be stopped.</summary>
    private static ExecCommand LongExec(string requestId) =>
        new() { RequestId = requestId, Command = "sh", Args = ["-c", "echo started; exec sleep 60"] };

    [Fact]
    public async Task Start_Stdio_SendsReadyFirstWithProtocolVersion()
    {
        await using var agent = Start();

        var ready = await agent.ReadReadyAsync();

        Assert.Equal(1, ready.Sequence);
        Assert.Equal(ProtocolInfo.Version, ready.ProtocolVersion);
        Assert.Null(ready.RequestId);
        Assert.False(string.IsNullOrWhiteSpace(ready.AgentVersion));
        Assert.Superset(new HashSet<string> { "exec", "cancel", "files", "ping", "shutdown", "namespaces" }, ready.Capabilities.ToHashSet());
        Assert.DoesNotContain("unconfined", ready.Capabilities);
    }

    /// <summary>
    /// A server that is not root runs its sandboxes in a user namespace: the command is the sandbox uid inside, and
    /// what it creates belongs to the server's own unprivileged uid outside, never to root; the seccomp filter holds.
    /// </summary>
    [Fact]
    public async Task Attack_ServerAsAnOrdinaryUser_CommandsAreThatUserOnTheHost()
    {
        Assert.SkipUnless(Environment.UserName == "root", "starts the agent as another user, which only root can");
        const int Nobody = 65534;
        File.SetUnixFileMode(_home.Path, (UnixFileMode)0x1C0);
        File.SetUnixFileMode(_workspace.Path, (UnixFileMode)0x1C0);
        foreach (var path in new[] { _home.Path, _workspace.Path })
        {
            using var chown = System.Diagnostics.Process.Start("chown", [$"{Nobody}:{Nobody}", path])!;
            await chown.WaitForExitAsync(TestContext.Current.CancellationToken);
            Assert.Equal(0, chown.ExitCode);
        }

        await using var agent = EndpointProcess.StartAs(Nobody, _home, "--workspace", _workspace.Path);
        await agent.ReadReadyAsync();
        await agent.SendAsync(new ExecCommand
        {
            RequestId = "u-1",
            Command = "/bin/sh",
            Args = ["-c", "id -u; touch made; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status | tr -d '\\t'; (echo 1 > /proc/sys/vm/swappiness) 2>/dev/null && echo sysctl-written"],
        });

        var output = new StringBuilder();
        while (await agent.ReadAsync() is var observation && observation is not CompleteObservation)
        {
            if (observation is OutputObservation { Stream: OutputChannel.Stdout } o)
            {
                output.Append(Encoding.UTF8.GetString(o.Data));
            }
        }

        Assert.Equal("65533\nNoNewPrivs:1\nSeccomp:2\n", output.ToString());
        var owner = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", Path.Combine(_workspace.Path, "made")]) { RedirectStandardOutput = true };
        using var stat = System.Diagnostics.Process.Start(owner)!;
        Assert.Equal(Nobody.ToString(System.Globalization.CultureInfo.InvariantCulture), (await stat.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken)).Trim());
    }

    [Fact]
    public async Task Ping_Stdio_PongWithSameRequestId()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();

        await agent.SendAsync(new PingCommand { RequestId = "p-7" });

        var pong = await agent.ReadAsync<PongObservation>();
        Assert.Equal("p-7", pong.RequestId);
    }

    [Fact]
    public async Task Exec_ShellExitingThree_OutputThenCompleteWithExitCode()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();

        await agent.SendAsync(new ExecCommand { RequestId = "e-1", Command = "sh", Args = ["-c", "echo hi; exit 3"] });

        var output = await agent.ReadAsync<OutputObservation>();
        var complete = await agent.ReadAsync<CompleteObservation>();
        Assert.Equal(("e-1", OutputChannel.Stdout, "hi\n"), (output.RequestId, output.Stream, Encoding.UTF8.GetString(output.Data)));
        Assert.Equal("e-1", complete.RequestId);
        Assert.Equal(3, complete.ExitCode);
        Assert.Equal(CompletionReason.Exited, complete.Reason);
        Assert.False(complete.Unconfined);
    }

    [Fact]
    public async Task Sequence_SeveralCommandsAtOnce_NumbersOnTheWireHaveNoGaps()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();

        await agent.SendAsync(new PingCommand { RequestId = "p-1" });
        await agent.SendAsync(new ExecCommand { RequestId = "e-1", Command = "sh", Args = ["-c", "for i in 1 2 3; do echo $i; done"] });
        await agent.SendAsync(new WriteFileCommand { RequestId = "w-1", Path = "a.txt", Content = [1, 2, 3] });
        await agent.SendAsync(new ListDirCommand { RequestId = "l-1" });
        await agent.SendAsync(new PingCommand { RequestId = "p-2" });
        var pending = new HashSet<string> { "p-1", "e-1", "w-1", "l-1", "p-2" };
        while (pending.Count > 0)
        {
            var observation = await agent.ReadAsync();
            if (observation is not OutputObservation)
            {
                Assert.True(pending.Remove(observation.RequestId!), $"unexpected {observation}");
            }
        }

        Assert.Equal(Enumerable.Range(1, agent.Received.Count).Select(i => (long)i), agent.Received.Select(o => o.Sequence));
    }

    [Fact]
    public async Task Cancel_SentRightBehindLongExec_CompleteReasonCancelled()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();

        // No wait between the two: the cancel must find the exec even if the exec has not started yet.
        await agent.SendAsync(new ExecCommand { RequestId = "long", Command = "sleep", Args = ["60"] });
        await agent.SendAsync(new CancelCommand { RequestId = "c-1", TargetRequestId = "long" });

        var complete = (CompleteObservation)await agent.ReadUntilAsync(o => o is CompleteObservation);
        var pong = await ReadOrFindAsync<PongObservation>(agent);
        Assert.Equal("long", complete.RequestId);
        Assert.Equal(CompletionReason.Cancelled, complete.Reason);
        Assert.Null(complete.ExitCode);
        Assert.Contains(complete.Signal, new int?[] { 15, 9 });
        Assert.Equal("c-1", pong.RequestId);
        Assert.DoesNotContain(agent.Received, o => o is ErrorObservation);
    }

    [Fact]
    public async Task Cancel_NothingRunning_UnknownRequest()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();

        await agent.SendAsync(new CancelCommand { RequestId = "c-1", TargetRequestId = "nothing" });

        var error = await agent.ReadAsync<ErrorObservation>();
        Assert.Equal(("c-1", ProtocolErrorCodes.UnknownRequest), (error.RequestId, error.Code));
    }

    [Fact]
    public async Task Exec_RequestIdOfRunningExec_DuplicateRequest()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();

        await agent.SendAsync(LongExec("long"));
        await agent.SendAsync(LongExec("long"));

        var error = (ErrorObservation)await agent.ReadUntilAsync(o => o is ErrorObservation);
        Assert.Equal(("long", ProtocolErrorCodes.DuplicateRequest), (error.RequestId, error.Code));
        Assert.DoesNotContain(agent.Received, o => o is CompleteObservation);
    }

    [Fact]
    public async Task Ping_WhileExecRunning_PongBeforeComplete()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();
        await agent.SendAsync(LongExec("long"));
        await agent.ReadUntilAsync(o => o is OutputObservation { RequestId: "long" });

        await agent.SendAsync(new PingCommand { RequestId = "p-1" });

        var pong = await agent.ReadUntilAsync(o => o is PongObservation);
        Assert.Equal("p-1", pong.RequestId);
        Assert.DoesNotContain(agent.Received, o => o is CompleteObservation);
    }

    [Fact]
    public async Task WriteFile_ThenReadFile_SameBytes()
    {
        byte[] content = [.. "buy milk\n"u8, 0, 0xff, 0x80];
        await using var agent = Start();
        await agent.ReadReadyAsync();

        await agent.SendAsync(new WriteFileCommand { RequestId = "w-1", Path = "notes/todo.txt", Content = content, Mode = 420 });
        var written = await agent.ReadAsync<FileWrittenObservation>();
        await agent.SendAsync(new ReadFileCommand { RequestId = "r-1", Path = "notes/todo.txt" });
        var read = await agent.ReadAsync<FileContentObservation>();

        Assert.Equal(("w-1", "notes/todo.txt", (long)content.Length), (written.RequestId, written.Path, written.Bytes));
        Assert.Equal(("r-1", (long)content.Length, false), (read.RequestId, read.Size, read.Truncated));
        Assert.Equal(content, read.Content);
        Assert.Equal(content, await File.ReadAllBytesAsync(_workspace["notes/todo.txt"], agent.Token));
    }

    [Fact]
    public async Task MalformedFrame_GarbageJson_BadFrameThenNextPingAnswered()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();

        await agent.SendRawAsync(Frame("{\"type\": ping, garbage"u8));
        var error = await agent.ReadAsync<ErrorObservation>();
        await agent.SendAsync(new PingCommand { RequestId = "p-1" });
        var pong = await agent.ReadAsync<PongObservation>();

        Assert.Equal(ProtocolErrorCodes.BadFrame, error.Code);
        Assert.Null(error.RequestId);
        Assert.Equal("p-1", pong.RequestId);
    }

    [Fact]
    public async Task TruncatedFrame_ThenInputEnds_BadFrameAndExitOne()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();

        // A prefix announcing 100 bytes, then only 10: the stream cannot be resynchronized.
        await agent.SendRawAsync([.. Frame(new byte[100])[..14]]);
        agent.CloseInput();

        var error = await agent.ReadAsync<ErrorObservation>();
        Assert.Equal(ProtocolErrorCodes.BadFrame, error.Code);
        Assert.True(await agent.ReadEndOfStreamAsync());
        Assert.Equal(1, await agent.WaitForExitAsync());
    }

    [Fact]
    public async Task Shutdown_WithExecRunning_CompleteCancelledThenShuttingDownAndExitZero()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();
        await agent.SendAsync(LongExec("long"));
        await agent.ReadUntilAsync(o => o is OutputObservation { RequestId: "long" });

        await agent.SendAsync(new ShutdownCommand { RequestId = "s-1" });

        var complete = await agent.ReadAsync<CompleteObservation>();
        var shuttingDown = await agent.ReadAsync<ShuttingDownObservation>();
        Assert.Equal(("long", CompletionReason.Cancelled), (complete.RequestId, complete.Reason));
        Assert.Equal("s-1", shuttingDown.RequestId);
        Assert.True(await agent.ReadEndOfStreamAsync());
        Assert.Equal(0, await agent.WaitForExitAsync());
    }

    [Fact]
    public async Task CloseInput_WithExecRunning_ExecCancelledAndExitZero()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();
        await agent.SendAsync(LongExec("long"));
        await agent.ReadUntilAsync(o => o is OutputObservation { RequestId: "long" });

        agent.CloseInput();

        var complete = await agent.ReadAsync<CompleteObservation>();
        Assert.Equal(CompletionReason.Cancelled, complete.Reason);
        Assert.True(await agent.ReadEndOfStreamAsync());
        Assert.Equal(0, await agent.WaitForExitAsync());
    }

    [Fact]
    public async Task CloseInput_Idle_ExitZero()
    {
        await using var agent = Start();
        await agent.ReadReadyAsync();

        agent.CloseInput();

        Assert.True(await agent.ReadEndOfStreamAsync());
        Assert.Equal(0, await agent.WaitForExitAsync());
    }

    [Fact]
    public async Task TemplateFile_ShortTimeout_ExecTimesOut()
    {
        var template = _home.Write("short.yaml", "resources:\n  timeout: 1s\n");
        await using var agent = Start("--template-file", template);
        await agent.ReadReadyAsync();

        await agent.SendAsync(new ExecCommand { RequestId = "e-1", Command = "sleep", Args = ["60"] });

        var complete = await agent.ReadAsync<CompleteObservation>();
        Assert.Equal(CompletionReason.TimedOut, complete.Reason);
    }

    [Fact]
    public async Task Start_Unconfined_AnnouncesUnconfinedAndWarnsOnStderr()
    {
        await using var agent = Start("--unconfined");

        var ready = await agent.ReadReadyAsync();
        await agent.SendAsync(new ExecCommand { RequestId = "e-1", Command = "true" });
        var complete = await agent.ReadAsync<CompleteObservation>();

        Assert.Contains("unconfined", ready.Capabilities);
        Assert.DoesNotContain("namespaces", ready.Capabilities);
        Assert.True(complete.Unconfined);
        var warning = await agent.WaitForStderrLineAsync("unconfined backend");
        Assert.StartsWith("warn: ", warning, StringComparison.Ordinal);
        Assert.Contains("[2001] ", warning, StringComparison.Ordinal);
        Assert.Contains("no sandbox", warning, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_MissingWorkspace_ExitTwo()
    {
        await using var agent = EndpointProcess.Start(_home, "--workspace", _workspace["missing"]);

        Assert.Equal(2, await agent.WaitForExitAsync());
        Assert.Contains("does not exist", agent.Stderr, StringComparison.Ordinal);
    }

    /// <summary>The observation of type <typeparamref name="T"/> already read, or the next ones until it comes.</summary>
    private static async Task<T> ReadOrFindAsync<T>(EndpointProcess agent)
        where T : Observation =>
        agent.Received.OfType<T>().FirstOrDefault() ?? (T)await agent.ReadUntilAsync(o => o is T);

    private static byte[] Frame(ReadOnlySpan<byte> body)
    {
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame.AsSpan(4));
        return frame;
    }
}
