namespace Apiary.Sandbox.Seccomp;

/// <summary>
/// Offsets into <c>struct seccomp_data</c>, the input of a seccomp filter: <c>int nr</c> at 0, <c>__u32 arch</c> at 4,
/// <c>__u64 instruction_pointer</c> at 8, <c>__u64 args[6]</c> from 16. Classic BPF loads 32-bit words, so a 64-bit
/// argument is read in halves.
/// </summary>
/// <remarks>
/// The halves are placed for a little-endian machine (low word first), which both supported architectures are. Every
/// argument the policy inspects is 32 bits wide in the kernel (<c>int</c> flags, <c>umode_t</c> modes, the
/// <c>unsigned int</c> ioctl request and personality), and the kernel ignores the upper half of its register, so the
/// low word is exactly what the kernel acts on: a caller cannot dodge a rule by setting upper bits. The one 64-bit
/// argument (<c>unshare</c>'s flags) has both halves checked.
/// </remarks>
internal static class SeccompData
{
    /// <summary>The system call number.</summary>
    public const uint Number = 0;

    /// <summary>The <c>AUDIT_ARCH_*</c> value of the calling convention used.</summary>
    public const uint Arch = 4;

    /// <summary>The size of the structure; every load must fall inside it.</summary>
    public const uint Size = 64;

    /// <summary>The low 32 bits of argument <paramref name="index"/> (0 to 5).</summary>
    public static uint ArgumentLow(int index) => 16 + (8 * (uint)CheckIndex(index));

    /// <summary>The high 32 bits of argument <paramref name="index"/> (0 to 5).</summary>
    public static uint ArgumentHigh(int index) => ArgumentLow(index) + 4;

    private static int CheckIndex(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, 5);
        return index;
    }
}
