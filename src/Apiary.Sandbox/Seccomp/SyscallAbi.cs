using System.Collections.Frozen;
using System.Runtime.InteropServices;

namespace Apiary.Sandbox.Seccomp;

/// <summary>
/// The system-call interface of one architecture as a seccomp filter sees it: the <c>AUDIT_ARCH_*</c> value the kernel
/// puts in <c>seccomp_data.arch</c>, the syscall numbers, and whether a second ABI hides under the same arch value.
/// </summary>
internal sealed class SyscallAbi
{
    /// <summary>x86_64: <c>AUDIT_ARCH_X86_64</c> (EM_X86_64 | 64-bit | little-endian).</summary>
    public static readonly SyscallAbi X64 = new(Architecture.X64, "x86_64", 0xC000003E, x32Bit: 0x40000000, SyscallNumbers.All.Select(s => (s.Name, s.X64)));

    /// <summary>aarch64: <c>AUDIT_ARCH_AARCH64</c> (EM_AARCH64 | 64-bit | little-endian).</summary>
    public static readonly SyscallAbi Arm64 = new(Architecture.Arm64, "aarch64", 0xC00000B7, x32Bit: null, SyscallNumbers.All.Select(s => (s.Name, s.Arm64)));

    private readonly FrozenDictionary<string, uint> _numbers;

    private SyscallAbi(Architecture architecture, string name, uint auditArch, uint? x32Bit, IEnumerable<(string Name, int? Number)> numbers)
    {
        Architecture = architecture;
        Name = name;
        AuditArch = auditArch;
        X32Bit = x32Bit;
        _numbers = numbers.Where(n => n.Number is not null).ToFrozenDictionary(n => n.Name, n => (uint)n.Number!.Value, StringComparer.Ordinal);
    }

    /// <summary>The .NET name of the architecture.</summary>
    public Architecture Architecture { get; }

    /// <summary>The kernel's name for it.</summary>
    public string Name { get; }

    /// <summary>The value of <c>seccomp_data.arch</c> for a native system call.</summary>
    public uint AuditArch { get; }

    /// <summary>
    /// On x86_64, the bit that marks an x32 system call (<c>__X32_SYSCALL_BIT</c>). x32 calls carry the x86_64 arch value,
    /// so a filter that checks only the arch would let them past every rule keyed on a native number.
    /// </summary>
    public uint? X32Bit { get; }

    /// <summary>The ABI of <paramref name="architecture"/>, or null when Apiary has no syscall table for it.</summary>
    public static SyscallAbi? For(Architecture architecture) => architecture switch
    {
        Architecture.X64 => X64,
        Architecture.Arm64 => Arm64,
        _ => null,
    };

    /// <summary>The number of <paramref name="syscall"/>, or false when this architecture does not have it.</summary>
    public bool TryGetNumber(string syscall, out uint number) => _numbers.TryGetValue(syscall, out number);
}
