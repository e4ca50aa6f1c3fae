namespace Apiary.Sandbox.Seccomp;

/// <summary>
/// Turns the policy into a seccomp BPF program for one architecture. The layout:
/// <list type="number">
/// <item>the arch check: a call made through any other ABI (i386's <c>int 0x80</c> on x86_64, arm32 on aarch64) is
/// killed, since its numbers mean other calls; on x86_64, a number with the x32 bit is killed too;</item>
/// <item>one comparison per refused call: straight to its errno, or to the block that checks its arguments;</item>
/// <item>allow;</item>
/// <item>the argument blocks, then the shared returns.</item>
/// </list>
/// Argument-checked calls come first in the chain: they include the busiest (<c>openat</c>, <c>ioctl</c>). The kernel
/// caches the verdict of every call whose path reads no argument, so the rest of the chain costs nothing per call.
/// </summary>
internal static class SeccompCompiler
{
    /// <summary>Compiles <paramref name="groups"/> for <paramref name="abi"/>; calls the architecture lacks are skipped.</summary>
    /// <exception cref="InvalidOperationException">A call is named twice, or has no number on any architecture.</exception>
    public static IReadOnlyList<BpfInstruction> Compile(IReadOnlyList<SyscallRuleGroup> groups, SyscallAbi abi)
    {
        var rules = groups.SelectMany(g => g.Rules).ToList();
        Validate(rules);

        var program = new BpfProgramBuilder();
        var nativeArch = program.NewLabel();
        program.Load(SeccompData.Arch);
        program.JumpIfEqual(abi.AuditArch, nativeArch);
        program.Return(SeccompAction.KillProcess);
        program.Mark(nativeArch);
        program.Load(SeccompData.Number);
        if (abi.X32Bit is { } x32Bit)
        {
            var nativeAbi = program.NewLabel();
            program.JumpIfAnyBitSet(x32Bit, null, nativeAbi);
            program.Return(SeccompAction.KillProcess);
            program.Mark(nativeAbi);
        }

        var refusals = new SortedDictionary<int, BpfLabel>();
        BpfLabel Refuse(int errno) => refusals.TryGetValue(errno, out var label) ? label : refusals[errno] = program.NewLabel();

        var blocks = new List<(BpfLabel Label, SyscallRule Rule)>();
        foreach (var rule in rules.OrderBy(r => r.When is null))
        {
            if (!abi.TryGetNumber(rule.Syscall, out var number))
            {
                continue;
            }

            if (rule.When is null)
            {
                program.JumpIfEqual(number, Refuse(rule.Errno));
            }
            else
            {
                var block = program.NewLabel();
                blocks.Add((block, rule));
                program.JumpIfEqual(number, block);
            }
        }

        program.Return(SeccompAction.Allow);

        var allow = program.NewLabel();
        foreach (var (label, rule) in blocks)
        {
            program.Mark(label);
            rule.When!.Emit(program, Refuse(rule.Errno), allow);
        }

        program.Mark(allow);
        program.Return(SeccompAction.Allow);
        foreach (var (errno, label) in refusals)
        {
            program.Mark(label);
            program.Return(SeccompAction.Errno(errno));
        }

        return program.Build();
    }

    private static void Validate(List<SyscallRule> rules)
    {
        var known = SyscallNumbers.All.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var rule in rules)
        {
            if (!known.Contains(rule.Syscall))
            {
                throw new InvalidOperationException($"the seccomp policy names {rule.Syscall}, which has no syscall number");
            }

            if (!seen.Add(rule.Syscall))
            {
                throw new InvalidOperationException($"the seccomp policy names {rule.Syscall} twice");
            }
        }
    }
}
