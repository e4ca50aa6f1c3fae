using System.Globalization;
using System.Text;
using System.Text.Json;
using Apiary.Protocol;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Templates;
using Apiary.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace Apiary.Sandbox.Tests.Execution;

/// <summary>
/// The sandbox's boundary, attacked as an agent would: values that try to become bubblewrap options, a command that
/// tries to act as host root, to fill the disk, or to make a set-user-ID program. Each attack must fail.
/// </summary>
public sealed class BoundaryAttackTests(BubblewrapFixture fixture) : IClassFixture<BubblewrapFixture>, IDisposable
{
    private readonly TempDirectory _workspace = new("apiary-ws");

    public void Dispose() => _workspace.Dispose();

    private Task<ISandboxSession> Open(SandboxTemplate? template = null) =>
        fixture.Backend.OpenSessionAsync(SessionExtensions.Options(_workspace, template), TestContext.Current.CancellationToken);

    [Fact]
    public async Task Attack_NulInEnvValueAddsBindOfHostRoot_RefusedBeforeAnythingStarts()
    {
        await using var session = await Open();
        var outcome = await session.RunAsync(new ExecCommand
        {
            RequestId = SessionExtensions.NextId(),
            Command = "/bin/ls",
            Args = ["/hostroot"],
            Env = new Dictionary<string, string> { ["X"] = "a\0--bind\0/\0/hostroot\0--share-net" },
        });

        Assert.Equal("invalid_argument", outcome.Error?.Code);
        Assert.Contains("env X", outcome.Error!.Message, StringComparison.Ordinal);
        Assert.Contains("NUL", outcome.Error.Message, StringComparison.Ordinal);
        Assert.Null(outcome.Complete);
    }

    [Theory]
    [InlineData("command")]
    [InlineData("arg")]
    [InlineData("env-name")]
    [InlineData("workdir")]
    [InlineData("secret")]
    public async Task Attack_NulOrControlCharacterInAnyValue_Refused(string field)
    {
        await using var session = await Open();
        var exec = new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "/bin/true" };
        exec = field switch
        {
            "command" => exec with { Command = "/bin/true\0--bind" },
            "arg" => exec with { Args = ["ok", "x\0--share-net"] },
            "env-name" => exec with { Env = new Dictionary<string, string> { ["A\u001bB"] = "v" } },
            "workdir" => exec with { Workdir = "sub\0/../.." },
            _ => exec with { Secrets = ["S\0--bind"] },
        };

        var outcome = await session.RunAsync(exec);

        Assert.Equal("invalid_argument", outcome.Error?.Code);
        Assert.Null(outcome.Complete);
    }

    [Fact]
    public void Frame_ValueWithNul_CannotBeFramedAtAll()
    {
        Assert.Throws<ArgumentException>(() => Starter.Frame(["--setenv", "X", "a\0--bind\0/\0/x"], ["/bin/true"]));
        Assert.Throws<ArgumentException>(() => Starter.Frame(["--clearenv"], ["/bin/true", "a\0b"]));
        Assert.Throws<ArgumentException>(() => Starter.Frame(["--clearenv"], ["/bin/true", "lone \ud800 surrogate"]));
    }

    [Fact]
    public void Frame_AnyValuesWithoutNul_SplitBackIntoExactlyTheSameElements()
    {
        var text = ArbMap.Default.GeneratorFor<string>().Where(s => s is not null && Apiary.Text.ProcessText.IsValid(s, lineBreaks: true));
        var lists = Gen.ListOf(text).Select(l => l.ToArray());
        Prop.ForAll(Gen.Zip(lists, lists).Where(p => p.Item2.Length > 0).ToArbitrary(), pair =>
        {
            var (options, command) = pair;
            var frame = Starter.Frame(options, command);
            var parts = Encoding.UTF8.GetString(frame).Split('\0');

            // count, words, options, and the empty tail after the last terminator
            return parts.Length == 1 + command.Length + options.Length + 1
                && parts[0] == command.Length.ToString(CultureInfo.InvariantCulture)
                && parts.Skip(1).Take(command.Length).SequenceEqual(command)
                && parts.Skip(1 + command.Length).Take(options.Length).SequenceEqual(options)
                && parts[^1].Length == 0;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public async Task Fuzz_ArgumentsAndEnvironment_ReachTheProgramExactlyAndNeverAsOptions()
    {
        // Values built from what bubblewrap, the shell and option parsers treat specially.
        string[] pieces = ["--bind", "/", "--share-net", "-", "--", "'", "\"", "\\", "$(id)", "`id`", "$HOME", "*", "\n", "\t", "\r", " ", ";", "|", "&", "=", "é", "😀", "x"];
        var value = Gen.ListOf(Gen.Elements(pieces)).Select(p => string.Concat(p));
        var cases = Gen.Zip(Gen.ArrayOf(value), Gen.ArrayOf(value)).Sample(25, 40);

        await using var session = await Open();
        foreach (var (args, values) in cases)
        {
            var env = values.Select((v, i) => (Name: $"FUZZ_{i}", Value: v)).ToDictionary(e => e.Name, e => e.Value);
            var outcome = await session.RunAsync(new ExecCommand
            {
                RequestId = SessionExtensions.NextId(),
                Command = "/usr/bin/python3",
                Args = ["-c", "import json,os,sys\nprint(json.dumps({'argv': sys.argv[1:], 'env': {k: v for k, v in os.environ.items() if k.startswith('FUZZ_')}, 'net': os.listdir('/sys/class/net') if os.path.isdir('/sys/class/net') else [], 'root': os.path.exists('/hostroot')}))", .. args],
                Env = env,
            });

            Assert.True(outcome.ExitCode == 0, outcome.ToString());
            using var seen = JsonDocument.Parse(outcome.Stdout);
            Assert.Equal(args, seen.RootElement.GetProperty("argv").EnumerateArray().Select(a => a.GetString()!).ToArray());
            var seenEnv = seen.RootElement.GetProperty("env").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            Assert.Equal(env.OrderBy(e => e.Key, StringComparer.Ordinal), seenEnv.OrderBy(e => e.Key, StringComparer.Ordinal));
            Assert.False(seen.RootElement.GetProperty("root").GetBoolean());
        }
    }

    [Fact]
    public async Task Attack_WriteHostSysctl_FailsAndHostValueUnchanged()
    {
        var before = await File.ReadAllTextAsync("/proc/sys/vm/swappiness", TestContext.Current.CancellationToken);
        var other = before.Trim() == "17" ? "18" : "17";
        await using var session = await Open();

        var outcome = await session.ShAsync($"echo {other} > /proc/sys/vm/swappiness; echo exit=$?; echo 1 > /proc/sysrq-trigger; echo sysrq=$?");

        Assert.DoesNotContain("exit=0", outcome.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("sysrq=0", outcome.Stdout, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllTextAsync("/proc/sys/vm/swappiness", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Attack_FilesACommandCreates_OwnedByAnUnprivilegedHostUid()
    {
        await using var session = await Open();
        var outcome = await session.ShAsync("mkdir -p made/deeper && echo x > made/deeper/file && id -u");
        Assert.Equal(0, outcome.ExitCode);

        foreach (var path in new[] { _workspace["made"], _workspace["made/deeper"], _workspace["made/deeper/file"] })
        {
            var owner = OwnerOf(path);
            Assert.NotEqual(0, owner);
            Assert.Equal(fixture.Backend.User.HostUid, owner);
        }

        Assert.Equal(fixture.Backend.User.Uid.ToString(CultureInfo.InvariantCulture) + "\n", outcome.Stdout);
    }

    [Fact]
    public async Task Attack_SetuidBinaryInWorkspace_NeverRunsAsRootOnTheHost()
    {
        await using var session = await Open();
        var outcome = await session.ShAsync("cp /usr/bin/id ./id; chmod u+s ./id; echo chmod=$?; ./id -u");

        var copy = _workspace["id"];
        Assert.True(File.Exists(copy), outcome.ToString());

        // The seccomp filter refuses the bit; and the file is not root's anyway: a host user running it cannot become root.
        Assert.Contains("chmod=1", outcome.Stdout, StringComparison.Ordinal);
        Assert.Equal((UnixFileMode)0, File.GetUnixFileMode(copy) & (UnixFileMode.SetUser | UnixFileMode.SetGroup));
        Assert.NotEqual(0, OwnerOf(copy));
        Assert.Equal(fixture.Backend.User.HostUid, OwnerOf(copy));
    }

    [Fact]
    public async Task Attack_KillTheSandboxInitOrGainCapabilities_Fails()
    {
        await using var session = await Open();
        var outcome = await session.ShAsync("kill -9 1; echo kill=$?; grep -E '^(CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status");
        Assert.Contains("kill=1", outcome.Stdout, StringComparison.Ordinal);
        Assert.Contains("CapPrm:\t0000000000000000", outcome.Stdout, StringComparison.Ordinal);
        Assert.Contains("CapEff:\t0000000000000000", outcome.Stdout, StringComparison.Ordinal);
        Assert.Contains("CapAmb:\t0000000000000000", outcome.Stdout, StringComparison.Ordinal);
        Assert.Contains("NoNewPrivs:\t1", outcome.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attack_KernelInterfacesFromTheSandbox_RefusedBySeccomp()
    {
        Assert.SkipUnless(System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture == System.Runtime.InteropServices.Architecture.X64, "the calls are made by their x86_64 numbers");
        Assert.True(fixture.Backend.Seccomp);
        await using var session = await Open();

        // Each call is made the way a program would make it; the filter answers EPERM (1) or, for clone3, ENOSYS (38).
        var outcome = await session.RunAsync("/usr/bin/python3", "-c", """
            import ctypes, os
            libc = ctypes.CDLL(None, use_errno=True)
            def call(name, nr, *args):
                r = libc.syscall(nr, *args)
                print(name, r, ctypes.get_errno())
            print('Seccomp', [l.split()[1] for l in open('/proc/self/status') if l.startswith('Seccomp:')][0])
            call('keyctl', 250, 0, -3, 0)
            call('add_key', 248, b'user', b'k', b'v', 1, -3)
            call('unshare_user', 272, 0x10000000)
            call('mount', 165, b'none', b'/tmp', b'tmpfs', 0, 0)
            call('io_uring_setup', 425, 8, ctypes.create_string_buffer(120))
            call('bpf', 321, 0, 0, 0)
            call('perf_event_open', 298, 0, 0, -1, -1, 0)
            call('userfaultfd', 323, 0)
            call('ptrace', 101, 16, 1, 0, 0)
            call('setns', 308, 0, 0)
            call('init_module', 175, 0, 0, 0)
            call('kexec_load', 246, 0, 0, 0, 0)
            call('clone3', 435, 0, 0)
            """);

        Assert.True(outcome.ExitCode == 0, outcome.ToString());
        var results = outcome.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')).ToDictionary(p => p[0], p => p[^1]);
        Assert.Equal("2", results["Seccomp"]);
        foreach (var call in new[] { "keyctl", "add_key", "unshare_user", "mount", "io_uring_setup", "bpf", "perf_event_open", "userfaultfd", "ptrace", "setns", "init_module", "kexec_load" })
        {
            Assert.True(results[call] == "1", $"{call}: errno {results[call]}\n{outcome}");
        }

        Assert.Equal("38", results["clone3"]);
    }

    [Fact]
    public async Task Attack_OneCommandWritesGigabytes_StoppedAtTheWorkspaceQuota()
    {
        var template = SandboxTemplate.Default with { DiskMb = 16 };
        await using var session = await Open(template);

        var outcome = await session.ShAsync("dd if=/dev/zero of=big bs=1M count=3000 2>&1; echo dd=$?");

        // The file-size limit is the room the quota leaves: dd is stopped by SIGXFSZ (or EFBIG) at 16 MiB.
        Assert.DoesNotContain("dd=0", outcome.Stdout, StringComparison.Ordinal);
        Assert.True(new FileInfo(_workspace["big"]).Length <= 16L * 1024 * 1024, outcome.ToString());
    }

    [Fact]
    public async Task Attack_ManyFilesInParallelPastTheQuota_CommandStoppedWithDiskQuota()
    {
        var template = SandboxTemplate.Default with { DiskMb = 8 };
        await using var session = await Open(template);

        // Each file stays under the room left, so only the quota's watch can stop the whole.
        var outcome = await session.ShAsync("i=0; while true; do i=$((i+1)); head -c 1048576 /dev/zero > f$i || exit 9; sleep 0.05; done");

        Assert.Equal(CompletionReason.DiskQuota, outcome.Complete?.Reason);
        var used = Directory.EnumerateFiles(_workspace.Path).Sum(f => new FileInfo(f).Length);
        Assert.True(used < 64L * 1024 * 1024, $"{used} bytes written");
    }

    [Fact]
    public async Task WorkspaceOverQuota_NextCommandCannotGrowIt()
    {
        var template = SandboxTemplate.Default with { DiskMb = 4 };
        await using var session = await Open(template);
        await File.WriteAllBytesAsync(_workspace["planted"], new byte[6 * 1024 * 1024], TestContext.Current.CancellationToken);
        await using var again = await Open(template);

        var outcome = await again.ShAsync("(echo more > more.txt); echo write=$?; rm planted; echo rm=$?");

        Assert.DoesNotContain("write=0", outcome.Stdout, StringComparison.Ordinal);
        Assert.Contains("rm=0", outcome.Stdout, StringComparison.Ordinal);
    }

    private static long OwnerOf(string path)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(psi)!;
        var text = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return long.Parse(text.Trim(), CultureInfo.InvariantCulture);
    }
}
