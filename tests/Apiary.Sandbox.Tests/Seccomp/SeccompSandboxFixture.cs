using System.Globalization;
using System.Runtime.InteropServices;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Seccomp;
using Apiary.Testing;

namespace Apiary.Sandbox.Tests.Seccomp;

/// <summary>
/// Runs commands in real bubblewrap sandboxes (isolated as Apiary's are: every namespace, uid 1000, no capabilities)
/// under the seccomp filter, or, for control runs, under a program that allows everything, so the filter is the only
/// difference between the two.
/// </summary>
public sealed class SeccompSandboxFixture : IDisposable
{
    // Calls one system call and prints "result errno". Arguments are Python expressions: ints, bytes for paths,
    // fd('/tmp/f') for a descriptor. /tmp/f exists. A child made by a raw clone exits at once.
    private const string SyscallScript = """
        import ctypes, os, sys
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        def fd(path): return os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        open('/tmp/f', 'w').close()
        args = [eval(a, {'os': os, 'fd': fd}) for a in sys.argv[2:]]
        args = [a if isinstance(a, bytes) else ctypes.c_long(a) for a in args]
        parent = os.getpid()
        ctypes.set_errno(0)
        r = libc.syscall(ctypes.c_long(int(sys.argv[1])), *args)
        e = ctypes.get_errno()
        if r == 0 and os.getpid() != parent: os._exit(0)
        print(r, e)
        """;

    private static readonly string[] Isolation =
    [
        "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
        "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--uid", "1000", "--gid", "1000", "--chdir", "/tmp",
    ];

    private readonly TempDirectory _filterDirectory = new("apiary-seccomp-filter");
    private readonly TempDirectory _allowAllDirectory = new("apiary-seccomp-allow");

    public SeccompSandboxFixture()
    {
        Bwrap = BubblewrapBackend.SearchPaths.FirstOrDefault(File.Exists) ?? throw new InvalidOperationException("these tests need bubblewrap (apt-get install bubblewrap)");
        FilterFile = SeccompFilter.WriteProgramFile(_filterDirectory.Path);
        AllowAllFile = SeccompFilter.WriteProgramFile(_allowAllDirectory.Path, BpfInstruction.Encode([new BpfInstruction(BpfInstruction.ReturnConstant, 0, 0, 0x7FFF0000)]));
        Abi = SyscallAbi.For(RuntimeInformation.ProcessArchitecture) ?? throw new InvalidOperationException("the filter supports x86_64 and aarch64 only");
    }

    public string Bwrap { get; }

    public string FilterFile { get; }

    public string AllowAllFile { get; }

    internal SyscallAbi Abi { get; }

    /// <summary>Runs <paramref name="command"/> in a sandbox, under the filter unless <paramref name="filtered"/> is false.</summary>
    internal Task<FilteredRun> RunAsync(bool filtered, params string[] command) =>
        FilteredBubblewrap.RunAsync(filtered ? FilterFile : AllowAllFile, Bwrap, [.. Isolation, .. command], TestContext.Current.CancellationToken);

    /// <summary>Runs a Python script in a sandbox; <paramref name="arguments"/> become <c>sys.argv[1:]</c>.</summary>
    internal Task<FilteredRun> PythonAsync(string script, bool filtered = true, params string[] arguments) =>
        RunAsync(filtered, ["python3", "-c", script, .. arguments]);

    /// <summary>Calls <paramref name="syscall"/> by number in a sandbox and returns what it returned and errno.</summary>
    internal async Task<(long Result, int Errno)> SyscallAsync(bool filtered, string syscall, params string[] arguments)
    {
        Assert.SkipUnless(Abi.TryGetNumber(syscall, out var number), $"{Abi.Name} has no {syscall}");
        var run = await PythonAsync(SyscallScript, filtered, [number.ToString(CultureInfo.InvariantCulture), .. arguments]);
        Assert.True(run.ExitCode == 0, $"{syscall}: exit {run.ExitCode}\n{run.Stdout}\n{run.Stderr}");
        var parts = run.Stdout.Trim().Split(' ');
        return (long.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
    }

    public void Dispose()
    {
        _filterDirectory.Dispose();
        _allowAllDirectory.Dispose();
    }
}
