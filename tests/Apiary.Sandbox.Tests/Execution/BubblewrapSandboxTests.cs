using System.Net;
using System.Net.Sockets;
using System.Text;
using Apiary.Protocol;
using Apiary.Sandbox.Templates;
using Apiary.Testing;

namespace Apiary.Sandbox.Tests.Execution;

public sealed class BubblewrapSandboxTests(BubblewrapFixture fixture) : IClassFixture<BubblewrapFixture>, IDisposable
{
    private readonly TempDirectory _workspace = new("apiary-ws");

    public void Dispose() => _workspace.Dispose();

    private Task<ISandboxSession> Open(SandboxTemplate? template = null) =>
        fixture.Backend.OpenSessionAsync(SessionExtensions.Options(_workspace, template), TestContext.Current.CancellationToken);

    [Fact]
    public async Task Exec_Echo_StreamsStdoutAndExitCode()
    {
        await using var session = await Open();
        var outcome = await session.ShAsync("echo hello; echo oops >&2; exit 3");
        Assert.Equal("hello\n", outcome.Stdout);
        Assert.Equal("oops\n", outcome.Stderr);
        Assert.Equal(3, outcome.ExitCode);
        Assert.Equal(CompletionReason.Exited, outcome.Complete!.Reason);
        Assert.False(outcome.Complete.Unconfined);
    }

    [Fact]
    public async Task Exec_Observations_NumberedInOrder()
    {
        await using var session = await Open();
        var outcome = await session.ShAsync("for i in 1 2 3; do echo $i; done");
        var sequences = outcome.Observations.Select(o => o.Sequence).ToList();
        Assert.Equal(sequences.Order(), sequences);
        Assert.Equal(sequences.Count, sequences.Distinct().Count());
        Assert.All(outcome.Observations, o => Assert.Equal(outcome.Complete!.RequestId, o.RequestId));
    }

    [Fact]
    public async Task Exec_Workspace_WritableAndKeptBetweenCommands()
    {
        await using var session = await Open();
        Assert.Equal(0, (await session.ShAsync("echo kept > /workspace/note.txt")).ExitCode);
        Assert.Equal("kept\n", (await session.RunAsync("cat", "note.txt")).Stdout);
        Assert.Equal("kept\n", await File.ReadAllTextAsync(_workspace["note.txt"], TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("it's")]
    [InlineData("'; touch /workspace/pwned; '")]
    [InlineData("$(touch /workspace/pwned)")]
    [InlineData("two\nlines")]
    [InlineData("back\\slash \"quoted\" `tick` $HOME *")]
    [InlineData("")]
    public async Task Exec_ArgumentsWithShellSyntax_PassedVerbatimNeverInterpreted(string argument)
    {
        await using var session = await Open();
        var outcome = await session.RunAsync("printf", "%s|", argument, "end");
        Assert.Equal(argument + "|end|", outcome.Stdout);
        Assert.False(File.Exists(_workspace["pwned"]));
    }

    [Fact]
    public async Task Exec_Stdin_DeliveredThenClosed()
    {
        await using var session = await Open();
        var outcome = await session.RunAsync(new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "wc", Args = ["-c"], Stdin = Encoding.UTF8.GetBytes("12345") });
        Assert.Equal("5", outcome.Stdout.Trim());
    }

    [Fact]
    public async Task Exec_Environment_OnlyWhatWasSet()
    {
        Environment.SetEnvironmentVariable("APIARY_TEST_HOST_ONLY", "leak");
        await using var session = await fixture.Backend.OpenSessionAsync(
            SessionExtensions.Options(_workspace) with { Env = new Dictionary<string, string> { ["SESSION_VAR"] = "s" } },
            TestContext.Current.CancellationToken);
        var outcome = await session.RunAsync(new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "env", Env = new Dictionary<string, string> { ["CMD_VAR"] = "c" } });
        Assert.Contains("SESSION_VAR=s", outcome.Stdout, StringComparison.Ordinal);
        Assert.Contains("CMD_VAR=c", outcome.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("APIARY_TEST_HOST_ONLY", outcome.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("DOTNET", outcome.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exec_Workdir_RelativeToWorkspace()
    {
        _workspace.CreateDirectory("sub/dir");
        await using var session = await Open();
        var outcome = await session.RunAsync(new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "pwd", Workdir = "sub/dir" });
        Assert.Equal("/workspace/sub/dir\n", outcome.Stdout);
    }

    [Fact]
    public async Task Exec_WorkdirSymlinkOutOfWorkspace_Refused()
    {
        Directory.CreateSymbolicLink(_workspace["escape"], "/etc");
        await using var session = await Open();
        var outcome = await session.RunAsync(new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "ls", Workdir = "escape" });
        Assert.Equal("invalid_path", outcome.Error?.Code);
        Assert.Null(outcome.Complete);
    }

    [Fact]
    public async Task Attack_ReadShadowAndHostSecrets_Fails()
    {
        await using var session = await Open();
        var outcome = await session.ShAsync("cat /etc/shadow; cat /root/.bashrc; ls /home; ls /work; ls /opt");
        Assert.DoesNotContain("root:", outcome.Stdout, StringComparison.Ordinal);
        Assert.Contains("No such file", outcome.Stderr, StringComparison.Ordinal);
        Assert.Equal("", outcome.Stdout);
    }

    [Fact]
    public async Task Attack_OtherWorkspaceAndTokenFiles_Invisible()
    {
        using var other = new TempDirectory("apiary-other-ws");
        await File.WriteAllTextAsync(other["token"], "secret-token", TestContext.Current.CancellationToken);
        await using var session = await Open();
        var outcome = await session.ShAsync($"cat {other["token"]}; ls {other.Path}");
        Assert.DoesNotContain("secret-token", outcome.Stdout, StringComparison.Ordinal);
        Assert.NotEqual(0, outcome.ExitCode);
    }

    [Fact]
    public async Task Attack_WriteSystemDirectories_Fails()
    {
        await using var session = await Open();
        var outcome = await session.ShAsync("touch /usr/pwned; echo x > /etc/pwned; echo $?");
        Assert.False(File.Exists("/usr/pwned"));
        Assert.False(File.Exists("/etc/pwned"));
        Assert.Contains("Read-only file system", outcome.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attack_WriteReadOnlyMount_Fails()
    {
        using var shared = new TempDirectory("apiary-mount");
        await File.WriteAllTextAsync(shared["data.txt"], "original", TestContext.Current.CancellationToken);

        // A mounted host folder must be readable by the sandbox user, who is never the server's root.
        File.SetUnixFileMode(shared.Path, (UnixFileMode)0x1ED);
        var template = SandboxTemplate.Default with { Mounts = [new TemplateMount(shared.Path, "/data")] };
        await using var session = await Open(template);

        var read = await session.RunAsync("cat", "/data/data.txt");
        var write = await session.ShAsync("echo changed > /data/data.txt; rm /data/data.txt; touch /data/new");

        Assert.Equal("original", read.Stdout);
        Assert.Contains("Read-only file system", write.Stderr, StringComparison.Ordinal);
        Assert.Equal("original", await File.ReadAllTextAsync(shared["data.txt"], TestContext.Current.CancellationToken));
        Assert.False(File.Exists(shared["new"]));
    }

    [Fact]
    public async Task Attack_ReachHostLoopbackListener_Fails()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = listener.AcceptTcpClientAsync(TestContext.Current.CancellationToken).AsTask();

        await using var session = await Open();
        var outcome = await session.RunAsync("python3", "-c",
            $"import socket,sys\ns=socket.socket()\ns.settimeout(2)\ntry:\n s.connect(('127.0.0.1',{port}))\n print('CONNECTED')\nexcept Exception as e:\n print('refused', type(e).__name__)");
        var ifaces = await session.RunAsync("cat", "/proc/net/dev");

        Assert.Contains("refused", outcome.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("CONNECTED", outcome.Stdout, StringComparison.Ordinal);
        Assert.False(accepted.IsCompleted);
        Assert.DoesNotContain("eth0", ifaces.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attack_SeeHostProcesses_Fails()
    {
        await using var session = await Open();
        var outcome = await session.ShAsync("ls /proc | grep -E '^[0-9]+$' | wc -l; cat /proc/1/cmdline | tr '\\0' ' '");
        var lines = outcome.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(int.Parse(lines[0], System.Globalization.CultureInfo.InvariantCulture) <= 5, outcome.ToString());
        Assert.DoesNotContain("dotnet", outcome.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attack_CapabilitiesAndIdentity_NoneAndUnprivileged()
    {
        await using var session = await Open();
        var outcome = await session.ShAsync("id -u; grep CapEff /proc/self/status; hostname");
        Assert.Contains(Bubblewrap.SandboxUser.DefaultUid.ToString(System.Globalization.CultureInfo.InvariantCulture), outcome.Stdout, StringComparison.Ordinal);
        Assert.Contains("CapEff:\t0000000000000000", outcome.Stdout, StringComparison.Ordinal);
        Assert.Contains("sandbox", outcome.Stdout, StringComparison.Ordinal);
    }
}
