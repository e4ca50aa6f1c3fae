namespace Apiary.Sandbox.Seccomp;

/// <summary>A place in a program being built, named before it is known so that jumps can point forward to it.</summary>
internal readonly record struct BpfLabel(int Id);

/// <summary>
/// Builds a classic BPF program with labels. Classic BPF only jumps forward, by at most 255 instructions for a
/// conditional jump, so <see cref="Build"/> refuses a program that jumps backward or too far rather than emitting one
/// the kernel would reject.
/// </summary>
internal sealed class BpfProgramBuilder
{
    private readonly List<(BpfInstruction Instruction, BpfLabel? IfTrue, BpfLabel? IfFalse)> _code = [];
    private readonly List<int?> _labels = [];

    /// <summary>How many instructions have been emitted so far.</summary>
    public int Count => _code.Count;

    /// <summary>Makes a new label, to be placed later with <see cref="Mark"/>.</summary>
    public BpfLabel NewLabel()
    {
        _labels.Add(null);
        return new BpfLabel(_labels.Count - 1);
    }

    /// <summary>Places <paramref name="label"/> at the next instruction.</summary>
    /// <exception cref="InvalidOperationException">The label was already placed.</exception>
    public void Mark(BpfLabel label)
    {
        if (_labels[label.Id] is not null)
        {
            throw new InvalidOperationException($"BPF label {label.Id} is placed twice");
        }

        _labels[label.Id] = _code.Count;
    }

    /// <summary>Loads the 32-bit word at <paramref name="offset"/> of the input into the accumulator.</summary>
    public void Load(uint offset) => Emit(new BpfInstruction(BpfInstruction.LoadWordAbsolute, 0, 0, offset));

    /// <summary>ANDs the accumulator with <paramref name="mask"/>.</summary>
    public void And(uint mask) => Emit(new BpfInstruction(BpfInstruction.AndConstant, 0, 0, mask));

    /// <summary>Returns <paramref name="value"/> (for seccomp, the action).</summary>
    public void Return(uint value) => Emit(new BpfInstruction(BpfInstruction.ReturnConstant, 0, 0, value));

    /// <summary>Jumps to <paramref name="ifTrue"/> when the accumulator equals <paramref name="value"/>, else to <paramref name="ifFalse"/> (the next instruction when null).</summary>
    public void JumpIfEqual(uint value, BpfLabel? ifTrue, BpfLabel? ifFalse = null) =>
        Jump(BpfInstruction.JumpIfEqual, value, ifTrue, ifFalse);

    /// <summary>Jumps to <paramref name="ifTrue"/> when the accumulator is at least <paramref name="value"/> (unsigned), else to <paramref name="ifFalse"/>.</summary>
    public void JumpIfGreaterOrEqual(uint value, BpfLabel? ifTrue, BpfLabel? ifFalse = null) =>
        Jump(BpfInstruction.JumpIfGreaterOrEqual, value, ifTrue, ifFalse);

    /// <summary>Jumps to <paramref name="ifTrue"/> when the accumulator has any bit of <paramref name="mask"/>, else to <paramref name="ifFalse"/>.</summary>
    public void JumpIfAnyBitSet(uint mask, BpfLabel? ifTrue, BpfLabel? ifFalse = null) =>
        Jump(BpfInstruction.JumpIfAnyBitSet, mask, ifTrue, ifFalse);

    /// <summary>Resolves every label into jump offsets.</summary>
    /// <exception cref="InvalidOperationException">A label was never placed, a jump goes backward or further than 255 instructions.</exception>
    public IReadOnlyList<BpfInstruction> Build()
    {
        var program = new BpfInstruction[_code.Count];
        for (var i = 0; i < _code.Count; i++)
        {
            var (instruction, ifTrue, ifFalse) = _code[i];
            program[i] = instruction with { JumpIfTrue = Offset(i, ifTrue), JumpIfFalse = Offset(i, ifFalse) };
        }

        return program;
    }

    private void Jump(ushort code, uint k, BpfLabel? ifTrue, BpfLabel? ifFalse) =>
        _code.Add((new BpfInstruction(code, 0, 0, k), ifTrue, ifFalse));

    private void Emit(BpfInstruction instruction) => _code.Add((instruction, null, null));

    private byte Offset(int from, BpfLabel? to)
    {
        if (to is not { } label)
        {
            return 0;
        }

        var target = _labels[label.Id] ?? throw new InvalidOperationException($"BPF label {label.Id} is never placed");
        var offset = target - from - 1;
        return offset is >= 0 and <= byte.MaxValue
            ? (byte)offset
            : throw new InvalidOperationException($"instruction {from} cannot jump to {target}: classic BPF jumps forward by at most 255");
    }
}
