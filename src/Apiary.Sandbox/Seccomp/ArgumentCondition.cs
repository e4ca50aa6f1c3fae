namespace Apiary.Sandbox.Seccomp;

/// <summary>
/// When a conditionally refused system call is refused, decided from its arguments. Each condition emits a block of
/// BPF that ends by jumping to the refusal or to the allowance; it may assume nothing about the accumulator.
/// </summary>
internal abstract class ArgumentCondition(string description)
{
    /// <summary>When the call is refused, in words, for <c>apiary doctor</c> and the docs.</summary>
    public string Description { get; } = description;

    /// <summary>Emits the test: jump to <paramref name="refuse"/> when the call must fail, else to <paramref name="allow"/>.</summary>
    public abstract void Emit(BpfProgramBuilder program, BpfLabel refuse, BpfLabel allow);
}

/// <summary>Refused when the low 32 bits of an argument share a bit with a mask (namespace flags, setuid mode bits).</summary>
internal sealed class AnyBitSet(int argument, uint mask, string description) : ArgumentCondition(description)
{
    /// <inheritdoc/>
    public override void Emit(BpfProgramBuilder program, BpfLabel refuse, BpfLabel allow)
    {
        program.Load(SeccompData.ArgumentLow(argument));
        program.JumpIfAnyBitSet(mask, refuse, allow);
    }
}

/// <summary>Refused when the low 32 bits of an argument are one of some values (an ioctl request, a socket family).</summary>
internal sealed class OneOf(int argument, IReadOnlyList<uint> values, string description) : ArgumentCondition(description)
{
    /// <inheritdoc/>
    public override void Emit(BpfProgramBuilder program, BpfLabel refuse, BpfLabel allow)
    {
        program.Load(SeccompData.ArgumentLow(argument));
        for (var i = 0; i < values.Count; i++)
        {
            program.JumpIfEqual(values[i], refuse, i == values.Count - 1 ? allow : null);
        }
    }
}

/// <summary>Refused unless the low 32 bits of an argument are one of some values (an allow-list of personalities).</summary>
internal sealed class NoneOf(int argument, IReadOnlyList<uint> allowed, string description) : ArgumentCondition(description)
{
    /// <inheritdoc/>
    public override void Emit(BpfProgramBuilder program, BpfLabel refuse, BpfLabel allow)
    {
        program.Load(SeccompData.ArgumentLow(argument));
        for (var i = 0; i < allowed.Count; i++)
        {
            program.JumpIfEqual(allowed[i], allow, i == allowed.Count - 1 ? refuse : null);
        }
    }
}

/// <summary>
/// Refused when a 64-bit argument has any bit outside an allowed set, in either half: an allow-list of flags, so a flag
/// added by a later kernel is refused rather than let through.
/// </summary>
internal sealed class AnyBitOutside(int argument, uint allowedLowBits, string description) : ArgumentCondition(description)
{
    /// <inheritdoc/>
    public override void Emit(BpfProgramBuilder program, BpfLabel refuse, BpfLabel allow)
    {
        program.Load(SeccompData.ArgumentHigh(argument));
        program.JumpIfEqual(0, null, refuse);
        program.Load(SeccompData.ArgumentLow(argument));
        program.JumpIfAnyBitSet(~allowedLowBits, refuse, allow);
    }
}

/// <summary>
/// Refused when a flags argument asks to create a file and the mode argument has some bits (<c>open</c>, <c>openat</c>:
/// the mode only matters with <c>O_CREAT</c> or <c>O_TMPFILE</c>, and is garbage otherwise).
/// </summary>
internal sealed class CreatesWithMode(int flagsArgument, uint createFlags, int modeArgument, uint modeBits, string description)
    : ArgumentCondition(description)
{
    /// <inheritdoc/>
    public override void Emit(BpfProgramBuilder program, BpfLabel refuse, BpfLabel allow)
    {
        program.Load(SeccompData.ArgumentLow(flagsArgument));
        program.JumpIfAnyBitSet(createFlags, null, allow);
        program.Load(SeccompData.ArgumentLow(modeArgument));
        program.JumpIfAnyBitSet(modeBits, refuse, allow);
    }
}
