using System.Globalization;
using System.Runtime.InteropServices;
using Apiary.Sandbox.Seccomp;

namespace Apiary.Sandbox.Tests.Seccomp;

/// <summary>
/// Attacks on the kernel from inside a real bubblewrap sandbox under the seccomp filter, each made with Python's ctypes
/// calling the system call by number. Each must fail; the control tests make the same attempts under an allow-all
/// program to show that the filter, not something else, is what stops them.
/// </summary>
public sealed class SeccompAttackTests(SeccompSandboxFixture sandbox) : IClassFixture<SeccompSandboxFixture>
{
    private const int EPERM = 1;
    private const int ENOSYS = 38;
    private const int SigsysExit = 128 + 31;

    // Calls each number given with six zero arguments and prints "number result errno".
    private const string CallEachWithZeros = """
        import ctypes, sys
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        for nr in sys.argv[1:]:
            ctypes.set_errno(0)
            r = libc.syscall(ctypes.c_long(int(nr)), *[ctypes.c_long(0)] * 6)
            print(nr, r, ctypes.get_errno(), flush=True)
        """;

    // i386 getpid through int 0x80: mov eax, 20; int 0x80; ret.
    private const string I386Getpid = """
        import ctypes, mmap
        code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        code.write(bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3]))
        call = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(code)))
        print('i386 getpid', call(), flush=True)
        """;

    // x32 getpid: the x86_64 number with __X32_SYSCALL_BIT.
    private const string X32Getpid = """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        print('x32 getpid', libc.syscall(ctypes.c_long(0x40000000 | 39)), ctypes.get_errno(), flush=True)
        """;

    [Fact]
    public async Task Attack_EveryAlwaysRefusedCall_FailsWithItsErrno()
    {
        var expected = new Dictionary<uint, (string Name, int Errno)>();
        foreach (var rule in SeccompPolicy.Groups.SelectMany(g => g.Rules).Where(r => r.When is null))
        {
            if (sandbox.Abi.TryGetNumber(rule.Syscall, out var number))
            {
                expected[number] = (rule.Syscall, rule.Errno);
            }
        }

        var run = await sandbox.PythonAsync(CallEachWithZeros, true, [.. expected.Keys.Select(n => n.ToString(CultureInfo.InvariantCulture))]);

        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(expected.Count, lines.Length);
        var wrong = new List<string>();
        foreach (var line in lines)
        {
            var parts = line.Split(' ');
            var (name, errno) = expected[uint.Parse(parts[0], CultureInfo.InvariantCulture)];
            if (parts[1] != "-1" || parts[2] != errno.ToString(CultureInfo.InvariantCulture))
            {
                wrong.Add($"{name}: returned {parts[1]}, errno {parts[2]}, expected errno {errno}");
            }
        }

        Assert.Empty(wrong);
    }

    [Fact]
    public async Task Attack_UnshareUserNamespace_Refused()
    {
        Assert.Equal((-1, EPERM), await sandbox.SyscallAsync(true, "unshare", "0x10000000"));
    }

    [Fact]
    public async Task Attack_UnshareFilesOnly_StillAllowed()
    {
        Assert.Equal((0, 0), await sandbox.SyscallAsync(true, "unshare", "0x400"));
    }

    [Theory]
    [InlineData("CLONE_NEWUSER", 0x10000000)]
    [InlineData("CLONE_NEWNS", 0x00020000)]
    [InlineData("CLONE_NEWPID", 0x20000000)]
    [InlineData("CLONE_NEWNET", 0x40000000)]
    [InlineData("CLONE_NEWCGROUP", 0x02000000)]
    [InlineData("CLONE_NEWUTS", 0x04000000)]
    [InlineData("CLONE_NEWIPC", 0x08000000)]
    public async Task Attack_CloneIntoNewNamespace_Refused(string flag, int value)
    {
        // SIGCHLD as the exit signal, as fork would pass.
        var (result, errno) = await sandbox.SyscallAsync(true, "clone", $"{value} | 17", "0", "0", "0", "0");

        Assert.True((result, errno) == (-1, EPERM), $"{flag}: {result} {errno}");
    }

    [Fact]
    public async Task Attack_Clone3_AnswersEnosysSoLibcFallsBack()
    {
        Assert.Equal((-1, ENOSYS), await sandbox.SyscallAsync(true, "clone3", "bytes(88)", "88"));
    }

    [Fact]
    public async Task Attack_NestedSandboxOrUnshareTool_Fails()
    {
        var run = await sandbox.RunAsync(true, "/bin/sh", "-c", $"{sandbox.Bwrap} --unshare-user --ro-bind / / true; echo bwrap=$?; unshare -U true; echo unshare=$?");

        Assert.Contains("bwrap=1", run.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("unshare=0", run.Stdout, StringComparison.Ordinal);
        Assert.Contains("Operation not permitted", run.Stderr, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("chmod", "b'/tmp/f'", "0o4755")]
    [InlineData("chmod", "b'/tmp/f'", "0o2755")]
    [InlineData("chmod", "b'/tmp/f'", "(1 << 32) | 0o4755")]
    [InlineData("fchmod", "fd('/tmp/f')", "0o4755")]
    [InlineData("fchmodat", "-100", "b'/tmp/f'", "0o6755")]
    [InlineData("fchmodat2", "-100", "b'/tmp/f'", "0o4755", "0")]
    public async Task Attack_SetSetuidOrSetgidBit_Refused(string syscall, params string[] arguments)
    {
        Assert.Equal((-1, EPERM), await sandbox.SyscallAsync(true, syscall, arguments));
    }

    [Theory]
    [InlineData("creat", "b'/tmp/s'", "0o4755")]
    [InlineData("open", "b'/tmp/s'", "os.O_CREAT | os.O_WRONLY", "0o4755")]
    [InlineData("openat", "-100", "b'/tmp/s'", "os.O_CREAT | os.O_WRONLY | os.O_EXCL", "0o2755")]
    [InlineData("openat", "-100", "b'/tmp'", "os.O_TMPFILE | os.O_WRONLY", "0o4700")]
    [InlineData("mknod", "b'/tmp/s'", "0o100000 | 0o4755", "0")]
    [InlineData("mknodat", "-100", "b'/tmp/s'", "0o100000 | 0o4755", "0")]
    public async Task Attack_CreateFileWithSetuidMode_Refused(string syscall, params string[] arguments)
    {
        Assert.Equal((-1, EPERM), await sandbox.SyscallAsync(true, syscall, arguments));
    }

    [Fact]
    public async Task Attack_PythonChmodAndOpen_SetuidRefusedPlainModesWork()
    {
        const string Script = """
            import os
            open('/tmp/f', 'w').close()
            for mode in (0o4755, 0o2755):
                try:
                    os.chmod('/tmp/f', mode); print('chmod', oct(mode), 'ok')
                except OSError as e:
                    print('chmod', oct(mode), e.errno)
            os.chmod('/tmp/f', 0o755); print('plain chmod', oct(os.stat('/tmp/f').st_mode & 0o7777))
            try:
                os.open('/tmp/s', os.O_CREAT | os.O_WRONLY, 0o4755); print('open ok')
            except OSError as e:
                print('open', e.errno, os.path.exists('/tmp/s'))
            os.close(os.open('/tmp/p', os.O_CREAT | os.O_WRONLY, 0o644)); print('plain open', oct(os.stat('/tmp/p').st_mode & 0o7777))
            """;

        var run = await sandbox.PythonAsync(Script);

        Assert.Equal("chmod 0o4755 1\nchmod 0o2755 1\nplain chmod 0o755\nopen 1 False\nplain open 0o644\n", run.Stdout);
    }

    [Fact]
    public async Task Attack_Keyctl_Refused()
    {
        // KEYCTL_GET_KEYRING_ID of the session keyring, creating it.
        Assert.Equal((-1, EPERM), await sandbox.SyscallAsync(true, "keyctl", "0", "-3", "1"));
    }

    [Fact]
    public async Task Attack_IoUringSetup_Refused()
    {
        Assert.Equal((-1, EPERM), await sandbox.SyscallAsync(true, "io_uring_setup", "8", "bytes(120)"));
    }

    [Fact]
    public async Task Attack_PtraceMe_Refused()
    {
        Assert.Equal((-1, EPERM), await sandbox.SyscallAsync(true, "ptrace", "0", "0", "0", "0"));
    }

    [Theory]
    [InlineData("0x5412")]
    [InlineData("0x541C")]
    [InlineData("(1 << 32) | 0x5412")]
    public async Task Attack_TerminalInjectionIoctl_Refused(string request)
    {
        Assert.Equal((-1, EPERM), await sandbox.SyscallAsync(true, "ioctl", "0", request, "b'x'"));
    }

    [Fact]
    public async Task Attack_PersonalityWithoutAslr_Refused()
    {
        // ADDR_NO_RANDOMIZE.
        Assert.Equal((-1, EPERM), await sandbox.SyscallAsync(true, "personality", "0x0040000"));
    }

    [Fact]
    public async Task Attack_VsockSocket_Refused()
    {
        Assert.Equal((-1, EPERM), await sandbox.SyscallAsync(true, "socket", "40", "1", "0"));
    }

    [Theory]
    [InlineData("i386 getpid", I386Getpid)]
    [InlineData("x32 getpid", X32Getpid)]
    public async Task Attack_ForeignAbiOnX64_KillsProcess(string marker, string script)
    {
        Assert.SkipUnless(RuntimeInformation.ProcessArchitecture == Architecture.X64, "i386 and x32 are x86_64's foreign ABIs");

        var run = await sandbox.PythonAsync(script);

        Assert.Equal(SigsysExit, run.ExitCode);
        Assert.DoesNotContain(marker, run.Stdout, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false, "fchmodat", "-100", "b'/tmp/f'", "0o4755")]
    [InlineData(false, "openat", "-100", "b'/tmp/s'", "os.O_CREAT | os.O_WRONLY", "0o4755")]
    [InlineData(false, "ptrace", "0", "0", "0", "0")]
    [InlineData(false, "personality", "0x0040000")]
    [InlineData(false, "ioctl", "0", "0x5412", "b'x'")]
    [InlineData(true, "unshare", "0x10000000")]
    [InlineData(true, "keyctl", "0", "-3", "1")]
    [InlineData(true, "io_uring_setup", "8", "bytes(120)")]
    [InlineData(true, "userfaultfd", "1")]
    [InlineData(true, "socket", "40", "1", "0")]
    public async Task Control_WithoutFilter_SameCallIsNotRefused(bool kernelMayRefuse, string syscall, params string[] arguments)
    {
        var (result, errno) = await sandbox.SyscallAsync(false, syscall, arguments);

        // Some kernels refuse these by themselves (a sysctl, a missing config); there the filter only adds a layer.
        Assert.SkipWhen(kernelMayRefuse && result < 0 && errno == EPERM, $"this kernel refuses {syscall} itself");
        Assert.True(result >= 0 || errno != EPERM, $"{syscall} without the filter: {result} {errno}");
    }

    [Fact]
    public async Task Control_WithoutFilter_I386SyscallRuns()
    {
        Assert.SkipUnless(RuntimeInformation.ProcessArchitecture == Architecture.X64, "int 0x80 is x86 only");

        var run = await sandbox.PythonAsync(I386Getpid, filtered: false);

        Assert.True(run.ExitCode == 0 && run.Stdout.StartsWith("i386 getpid", StringComparison.Ordinal), run.ToString());
    }
}
