using System.Buffers.Binary;

namespace Apiary.Sandbox.Seccomp;

/// <summary>
/// One classic BPF instruction, <c>struct sock_filter</c>: a 16-bit opcode, two 8-bit jump offsets (taken when the
/// condition is true or false, counted from the next instruction) and a 32-bit constant.
/// </summary>
/// <param name="Code">The opcode, a combination of the <c>BPF_*</c> constants below.</param>
/// <param name="JumpIfTrue">Instructions to skip when a conditional jump's condition holds.</param>
/// <param name="JumpIfFalse">Instructions to skip when it does not.</param>
/// <param name="K">The constant: an offset to load, a value to compare or mask with, or the value to return.</param>
internal readonly record struct BpfInstruction(ushort Code, byte JumpIfTrue, byte JumpIfFalse, uint K)
{
    /// <summary>The size of one encoded instruction.</summary>
    public const int Size = 8;

    /// <summary>Load a 32-bit word from an absolute offset of the input (<c>BPF_LD | BPF_W | BPF_ABS</c>).</summary>
    public const ushort LoadWordAbsolute = 0x00 | 0x00 | 0x20;

    /// <summary>Bitwise AND of the accumulator with K (<c>BPF_ALU | BPF_AND | BPF_K</c>).</summary>
    public const ushort AndConstant = 0x04 | 0x50 | 0x00;

    /// <summary>Jump if the accumulator equals K (<c>BPF_JMP | BPF_JEQ | BPF_K</c>).</summary>
    public const ushort JumpIfEqual = 0x05 | 0x10 | 0x00;

    /// <summary>Jump if the accumulator is at least K, unsigned (<c>BPF_JMP | BPF_JGE | BPF_K</c>).</summary>
    public const ushort JumpIfGreaterOrEqual = 0x05 | 0x30 | 0x00;

    /// <summary>Jump if the accumulator shares a set bit with K (<c>BPF_JMP | BPF_JSET | BPF_K</c>).</summary>
    public const ushort JumpIfAnyBitSet = 0x05 | 0x40 | 0x00;

    /// <summary>Return K (<c>BPF_RET | BPF_K</c>).</summary>
    public const ushort ReturnConstant = 0x06 | 0x00;

    /// <summary>Whether this instruction is a conditional jump (so its two offsets mean something).</summary>
    public bool IsConditionalJump => Code is JumpIfEqual or JumpIfGreaterOrEqual or JumpIfAnyBitSet;

    /// <summary>
    /// Writes the instruction as the kernel reads it, in native byte order. Both architectures Apiary supports
    /// (x86_64 and aarch64) are little-endian, so the order is fixed here rather than taken from the host.
    /// </summary>
    public void WriteTo(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(destination, Code);
        destination[2] = JumpIfTrue;
        destination[3] = JumpIfFalse;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[4..], K);
    }

    /// <summary>Encodes a whole program, as bubblewrap's <c>--seccomp FD</c> expects it: the instructions back to back.</summary>
    public static byte[] Encode(IReadOnlyList<BpfInstruction> program)
    {
        ArgumentNullException.ThrowIfNull(program);
        var bytes = new byte[program.Count * Size];
        for (var i = 0; i < program.Count; i++)
        {
            program[i].WriteTo(bytes.AsSpan(i * Size, Size));
        }

        return bytes;
    }

    /// <summary>Decodes a program written by <see cref="Encode"/>.</summary>
    /// <exception cref="ArgumentException">The length is not a whole number of instructions.</exception>
    public static IReadOnlyList<BpfInstruction> Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length % Size != 0)
        {
            throw new ArgumentException($"a BPF program is a multiple of {Size} bytes, not {bytes.Length}", nameof(bytes));
        }

        var program = new BpfInstruction[bytes.Length / Size];
        for (var i = 0; i < program.Length; i++)
        {
            var one = bytes.Slice(i * Size, Size);
            program[i] = new BpfInstruction(
                BinaryPrimitives.ReadUInt16LittleEndian(one), one[2], one[3], BinaryPrimitives.ReadUInt32LittleEndian(one[4..]));
        }

        return program;
    }
}
