using System.Runtime.InteropServices;

namespace Apiary.Sandbox.Seccomp;

/// <summary>
/// The seccomp filter every sandboxed command runs under: a classic BPF program that bubblewrap loads with
/// <c>--seccomp FD</c> just before it executes the command. It kills calls made through a foreign ABI and refuses a
/// deny-list of calls (namespaces, mounts, setuid files, kernel code, keyrings, host-wide settings, ...; see
/// <see cref="Describe()"/>) on top of bubblewrap's isolation; everything else is allowed.
/// </summary>
/// <remarks>
/// bubblewrap reads the program from the descriptor as an array of <c>struct sock_filter</c> in native byte order.
/// .NET cannot hand a child an extra descriptor, so the program is written to a file that a shell opens as descriptor 3
/// before it executes bubblewrap with <c>--seccomp 3</c> (see <see cref="FilteredBubblewrap"/>).
/// </remarks>
public static class SeccompFilter
{
    /// <summary>The architectures the filter can be built for: x86_64 and aarch64.</summary>
    public static IReadOnlyList<Architecture> SupportedArchitectures { get; } = [Architecture.X64, Architecture.Arm64];

    /// <summary>Whether the filter can be built for <paramref name="architecture"/>.</summary>
    public static bool IsSupported(Architecture architecture) => SyscallAbi.For(architecture) is not null;

    /// <summary>Builds the program for <paramref name="architecture"/>, ready for bubblewrap's <c>--seccomp</c>.</summary>
    /// <exception cref="PlatformNotSupportedException">Apiary has no syscall table for that architecture.</exception>
    public static byte[] Build(Architecture architecture) => BpfInstruction.Encode(Compile(architecture));

    /// <summary>Builds the program for the architecture this process runs on.</summary>
    /// <exception cref="PlatformNotSupportedException">This is neither x86_64 nor aarch64.</exception>
    public static byte[] BuildForCurrentArchitecture() => Build(RuntimeInformation.ProcessArchitecture);

    /// <summary>Every refused call, by group, with the reason and the condition (for the docs and <c>apiary doctor</c>).</summary>
    public static IReadOnlyList<RefusedCallGroup> Describe() =>
        SeccompPolicy.Groups.Select(g => new RefusedCallGroup(g.Name, g.Reason, g.Rules.Select(Describe).ToList())).ToList();

    /// <summary>
    /// Writes the program for this machine to <c>seccomp.bpf</c> in <paramref name="directory"/>, a new file readable only
    /// by its owner, and returns its path: the file a shell opens as bubblewrap's <c>--seccomp</c> descriptor.
    /// </summary>
    /// <param name="directory">An existing folder private to this process, without a <c>seccomp.bpf</c> yet.</param>
    /// <exception cref="IOException">The file already exists.</exception>
    /// <exception cref="PlatformNotSupportedException">This is neither x86_64 nor aarch64.</exception>
    internal static string WriteProgramFile(string directory) => WriteProgramFile(directory, BuildForCurrentArchitecture());

    /// <summary>Writes <paramref name="program"/> to a new <c>seccomp.bpf</c> in <paramref name="directory"/>, readable only by its owner, and returns its path.</summary>
    internal static string WriteProgramFile(string directory, byte[] program)
    {
        var path = Path.Combine(directory, "seccomp.bpf");
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        };
        using var file = new FileStream(path, options);
        file.Write(program);
        return path;
    }

    /// <summary>The program for <paramref name="architecture"/> as instructions.</summary>
    internal static IReadOnlyList<BpfInstruction> Compile(Architecture architecture) =>
        SeccompCompiler.Compile(SeccompPolicy.Groups, SyscallAbi.For(architecture)
            ?? throw new PlatformNotSupportedException($"the seccomp filter has no syscall table for {architecture}; it supports x86_64 and aarch64"));

    private static RefusedCall Describe(SyscallRule rule) => new(
        rule.Syscall,
        SeccompAction.ErrnoName(rule.Errno),
        rule.When?.Description,
        [.. new[] { SyscallAbi.X64, SyscallAbi.Arm64 }.Where(abi => abi.TryGetNumber(rule.Syscall, out _)).Select(abi => abi.Name)]);
}
