using System.Buffers.Binary;
using Apiary.Sandbox.Seccomp;

namespace Apiary.Sandbox.Tests.Seccomp;

/// <summary>
/// Runs a classic BPF seccomp program over a <c>seccomp_data</c> the way the kernel does, for the instructions the
/// generator emits; anything else (an unknown opcode, a load outside the structure, running off the end) throws, as
/// the kernel would refuse such a program.
/// </summary>
internal static class BpfInterpreter
{
    public const uint AuditArchX64 = 0xC000003E;
    public const uint AuditArchArm64 = 0xC00000B7;
    public const uint AuditArchI386 = 0x40000003;
    public const uint AuditArchArm = 0x40000028;

    public static uint Run(IReadOnlyList<BpfInstruction> program, uint arch, uint number, params ulong[] arguments)
    {
        var data = new byte[64];
        BinaryPrimitives.WriteUInt32LittleEndian(data, number);
        BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(4), arch);
        for (var i = 0; i < arguments.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(16 + (8 * i)), arguments[i]);
        }

        uint accumulator = 0;
        var pc = 0;
        while (true)
        {
            if (pc >= program.Count)
            {
                throw new InvalidOperationException($"the program runs off its end at {pc}");
            }

            var instruction = program[pc++];
            switch (instruction.Code)
            {
                case BpfInstruction.LoadWordAbsolute:
                    if (instruction.K % 4 != 0 || instruction.K + 4 > data.Length)
                    {
                        throw new InvalidOperationException($"load at offset {instruction.K} is outside seccomp_data or unaligned");
                    }

                    accumulator = BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan((int)instruction.K));
                    break;
                case BpfInstruction.AndConstant:
                    accumulator &= instruction.K;
                    break;
                case BpfInstruction.JumpIfEqual:
                    pc += accumulator == instruction.K ? instruction.JumpIfTrue : instruction.JumpIfFalse;
                    break;
                case BpfInstruction.JumpIfGreaterOrEqual:
                    pc += accumulator >= instruction.K ? instruction.JumpIfTrue : instruction.JumpIfFalse;
                    break;
                case BpfInstruction.JumpIfAnyBitSet:
                    pc += (accumulator & instruction.K) != 0 ? instruction.JumpIfTrue : instruction.JumpIfFalse;
                    break;
                case BpfInstruction.ReturnConstant:
                    return instruction.K;
                default:
                    throw new InvalidOperationException($"unknown opcode 0x{instruction.Code:x} at {pc - 1}");
            }
        }
    }
}
