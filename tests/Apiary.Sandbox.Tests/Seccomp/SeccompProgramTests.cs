using System.Runtime.InteropServices;
using Apiary.Sandbox.Seccomp;

namespace Apiary.Sandbox.Tests.Seccomp;

/// <summary>The generated program, read instruction by instruction and run through an interpreter, for both architectures.</summary>
public sealed class SeccompProgramTests
{
    private const uint Kill = 0x80000000;
    private const uint Allow = 0x7FFF0000;
    private const uint Eperm = 0x00050001;
    private const uint Enosys = 0x00050026;

    public static TheoryData<Architecture> Architectures => new(Architecture.X64, Architecture.Arm64);

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Build_FirstInstructions_CheckArchAndKillAnyOther(Architecture architecture)
    {
        var program = SeccompFilter.Compile(architecture);
        var abi = SyscallAbi.For(architecture)!;

        Assert.Equal(new BpfInstruction(BpfInstruction.LoadWordAbsolute, 0, 0, 4), program[0]);
        Assert.Equal(new BpfInstruction(BpfInstruction.JumpIfEqual, 1, 0, abi.AuditArch), program[1]);
        Assert.Equal(new BpfInstruction(BpfInstruction.ReturnConstant, 0, 0, Kill), program[2]);
        Assert.Equal(new BpfInstruction(BpfInstruction.LoadWordAbsolute, 0, 0, 0), program[3]);
    }

    [Theory]
    [InlineData(Architecture.X64, BpfInterpreter.AuditArchI386)]
    [InlineData(Architecture.X64, BpfInterpreter.AuditArchArm64)]
    [InlineData(Architecture.Arm64, BpfInterpreter.AuditArchArm)]
    [InlineData(Architecture.Arm64, BpfInterpreter.AuditArchX64)]
    public void Build_CallThroughForeignArch_KillsProcess(Architecture architecture, uint foreignArch)
    {
        var program = SeccompFilter.Compile(architecture);

        foreach (var number in new uint[] { 0, 1, 20, 39, 172, 500 })
        {
            Assert.Equal(Kill, BpfInterpreter.Run(program, foreignArch, number));
        }
    }

    [Theory]
    [InlineData(39u)]
    [InlineData(165u)]
    [InlineData(0u)]
    public void Build_X32CallOnX64_KillsProcess(uint number)
    {
        var program = SeccompFilter.Compile(Architecture.X64);

        Assert.Equal(Kill, BpfInterpreter.Run(program, BpfInterpreter.AuditArchX64, 0x40000000 | number));
        Assert.Equal(Allow, BpfInterpreter.Run(program, BpfInterpreter.AuditArchX64, 39));
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Build_EveryAlwaysRefusedCall_ReturnsItsErrno(Architecture architecture)
    {
        var program = SeccompFilter.Compile(architecture);
        var abi = SyscallAbi.For(architecture)!;
        var checkedCalls = 0;

        foreach (var rule in SeccompPolicy.Groups.SelectMany(g => g.Rules).Where(r => r.When is null))
        {
            if (abi.TryGetNumber(rule.Syscall, out var number))
            {
                var expected = rule.Errno == SeccompAction.ENOSYS ? Enosys : Eperm;
                Assert.True(expected == BpfInterpreter.Run(program, abi.AuditArch, number), $"{rule.Syscall} ({number}) on {abi.Name}");
                Assert.Equal(expected, BpfInterpreter.Run(program, abi.AuditArch, number, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue));
                checkedCalls++;
            }
        }

        Assert.True(checkedCalls > 50, $"only {checkedCalls} calls checked");
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Build_UnlistedCalls_Allowed(Architecture architecture)
    {
        var program = SeccompFilter.Compile(architecture);
        var abi = SyscallAbi.For(architecture)!;
        var listed = SeccompPolicy.Groups.SelectMany(g => g.Rules)
            .Select(r => abi.TryGetNumber(r.Syscall, out var n) ? n : uint.MaxValue).ToHashSet();

        for (uint number = 0; number < 600; number++)
        {
            if (!listed.Contains(number))
            {
                Assert.Equal(Allow, BpfInterpreter.Run(program, abi.AuditArch, number));
                Assert.Equal(Allow, BpfInterpreter.Run(program, abi.AuditArch, number, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue, ulong.MaxValue));
            }
        }
    }

    [Theory]
    // clone: any CLONE_NEW* flag in the low 32 bits of argument 0; threads and fork pass.
    [InlineData("clone", "EPERM", 0x10000011UL)]
    [InlineData("clone", "EPERM", 0x00020011UL)]
    [InlineData("clone", "EPERM", 0x02000011UL)]
    [InlineData("clone", "EPERM", 0x04000011UL)]
    [InlineData("clone", "EPERM", 0x08000011UL)]
    [InlineData("clone", "EPERM", 0x20000011UL)]
    [InlineData("clone", "EPERM", 0x40000011UL)]
    [InlineData("clone", "EPERM", 0x00000080UL)]
    [InlineData("clone", "ALLOW", 0x11UL)]
    [InlineData("clone", "ALLOW", 0x003D0F00UL)]
    [InlineData("clone", "ALLOW", 0xFFFFFFFF00000011UL)]
    // unshare: only the flags that create no namespace, in either half.
    [InlineData("unshare", "EPERM", 0x10000000UL)]
    [InlineData("unshare", "EPERM", 0x00000080UL)]
    [InlineData("unshare", "EPERM", 0x40000400UL)]
    [InlineData("unshare", "EPERM", 0x100000000UL)]
    [InlineData("unshare", "ALLOW", 0x00000400UL)]
    [InlineData("unshare", "ALLOW", 0x00040600UL)]
    [InlineData("unshare", "ALLOW", 0UL)]
    // setuid and setgid modes.
    [InlineData("chmod", "EPERM", 0UL, 0x9EDUL)]
    [InlineData("chmod", "EPERM", 0UL, 0x5EDUL)]
    [InlineData("chmod", "EPERM", 0UL, 0x1000009EDUL)]
    [InlineData("chmod", "ALLOW", 0UL, 0x1EDUL)]
    [InlineData("chmod", "ALLOW", 0UL, 0x3FFUL)]
    [InlineData("fchmod", "EPERM", 3UL, 0xDEDUL)]
    [InlineData("fchmod", "ALLOW", 3UL, 0x1EDUL)]
    [InlineData("fchmodat", "EPERM", 0xFFFFFF9CUL, 0UL, 0x9EDUL)]
    [InlineData("fchmodat", "ALLOW", 0xFFFFFF9CUL, 0UL, 0x1EDUL)]
    [InlineData("fchmodat2", "EPERM", 0xFFFFFF9CUL, 0UL, 0x5EDUL)]
    [InlineData("fchmodat2", "ALLOW", 0xFFFFFF9CUL, 0UL, 0x1EDUL)]
    [InlineData("creat", "EPERM", 0UL, 0x9EDUL)]
    [InlineData("creat", "ALLOW", 0UL, 0x1A4UL)]
    [InlineData("mknod", "EPERM", 0UL, 0x89EDUL)]
    [InlineData("mknod", "ALLOW", 0UL, 0x81A4UL)]
    [InlineData("mknodat", "EPERM", 0xFFFFFF9CUL, 0UL, 0x89EDUL)]
    [InlineData("mknodat", "ALLOW", 0xFFFFFF9CUL, 0UL, 0x81A4UL)]
    // open and openat: the mode counts only with O_CREAT or O_TMPFILE.
    [InlineData("open", "EPERM", 0UL, 0x41UL, 0x9EDUL)]
    [InlineData("open", "EPERM", 0UL, 0x400001UL, 0x5C0UL)]
    [InlineData("open", "ALLOW", 0UL, 0x41UL, 0x1A4UL)]
    [InlineData("open", "ALLOW", 0UL, 0x0UL, 0x9EDUL)]
    [InlineData("openat", "EPERM", 0xFFFFFF9CUL, 0UL, 0x241UL, 0x9EDUL)]
    [InlineData("openat", "EPERM", 0xFFFFFF9CUL, 0UL, 0x410002UL, 0x5EDUL)]
    [InlineData("openat", "ALLOW", 0xFFFFFF9CUL, 0UL, 0x241UL, 0x1A4UL)]
    [InlineData("openat", "ALLOW", 0xFFFFFF9CUL, 0UL, 0x80000UL, 0xFFFFFFFFUL)]
    // ioctl: TIOCSTI and TIOCLINUX, also with junk in the upper half the kernel drops.
    [InlineData("ioctl", "EPERM", 0UL, 0x5412UL)]
    [InlineData("ioctl", "EPERM", 0UL, 0x541CUL)]
    [InlineData("ioctl", "EPERM", 0UL, 0x100005412UL)]
    [InlineData("ioctl", "ALLOW", 0UL, 0x5401UL)]
    // personality: Docker's safe values only.
    [InlineData("personality", "EPERM", 0x0040000UL)]
    [InlineData("personality", "EPERM", 0x0400000UL)]
    [InlineData("personality", "ALLOW", 0UL)]
    [InlineData("personality", "ALLOW", 8UL)]
    [InlineData("personality", "ALLOW", 0x20008UL)]
    [InlineData("personality", "ALLOW", 0xFFFFFFFFUL)]
    // socket: AF_VSOCK only.
    [InlineData("socket", "EPERM", 40UL, 1UL)]
    [InlineData("socket", "ALLOW", 2UL, 1UL)]
    [InlineData("socket", "ALLOW", 1UL, 1UL)]
    public void Build_ConditionalCall_DecidedByItsArguments(string syscall, string expected, ulong arg0, ulong arg1 = 0, ulong arg2 = 0, ulong arg3 = 0)
    {
        var verdict = expected == "EPERM" ? Eperm : Allow;
        var architectures = 0;
        foreach (var abi in new[] { SyscallAbi.X64, SyscallAbi.Arm64 })
        {
            if (abi.TryGetNumber(syscall, out var number))
            {
                var program = SeccompFilter.Compile(abi.Architecture);
                Assert.True(verdict == BpfInterpreter.Run(program, abi.AuditArch, number, arg0, arg1, arg2, arg3), $"{syscall} on {abi.Name}");
                architectures++;
            }
        }

        Assert.NotEqual(0, architectures);
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Build_Program_WithinWhatTheKernelAccepts(Architecture architecture)
    {
        var program = SeccompFilter.Compile(architecture);

        Assert.InRange(program.Count, 1, 4096);
        Assert.Equal(BpfInstruction.ReturnConstant, program[^1].Code);
        for (var i = 0; i < program.Count; i++)
        {
            var instruction = program[i];
            Assert.Contains(instruction.Code, new[]
            {
                BpfInstruction.LoadWordAbsolute, BpfInstruction.AndConstant, BpfInstruction.JumpIfEqual,
                BpfInstruction.JumpIfGreaterOrEqual, BpfInstruction.JumpIfAnyBitSet, BpfInstruction.ReturnConstant,
            });
            if (instruction.Code == BpfInstruction.LoadWordAbsolute)
            {
                Assert.True(instruction.K % 4 == 0 && instruction.K < 64, $"load at {instruction.K}");
            }

            if (instruction.IsConditionalJump)
            {
                Assert.InRange(i + 1 + Math.Max(instruction.JumpIfTrue, instruction.JumpIfFalse), 0, program.Count - 1);
            }
        }
    }

    [Fact]
    public void Build_Bytes_AreLittleEndianSockFilters()
    {
        var bytes = SeccompFilter.Build(Architecture.X64);

        Assert.Equal(0, bytes.Length % 8);
        Assert.Equal(new byte[] { 0x20, 0, 0, 0, 4, 0, 0, 0 }, bytes[..8]);
        Assert.Equal(new byte[] { 0x15, 0, 1, 0, 0x3E, 0, 0, 0xC0 }, bytes[8..16]);
        Assert.Equal(SeccompFilter.Compile(Architecture.X64), BpfInstruction.Decode(bytes));
    }

    [Fact]
    public void BuildForCurrentArchitecture_ThisMachine_MatchesItsArchitecture()
    {
        Assert.Equal(SeccompFilter.Build(RuntimeInformation.ProcessArchitecture), SeccompFilter.BuildForCurrentArchitecture());
    }

    [Theory]
    [InlineData(Architecture.X86)]
    [InlineData(Architecture.Arm)]
    [InlineData(Architecture.RiscV64)]
    public void Build_UnsupportedArchitecture_Throws(Architecture architecture)
    {
        Assert.False(SeccompFilter.IsSupported(architecture));
        var error = Assert.Throws<PlatformNotSupportedException>(() => SeccompFilter.Build(architecture));
        Assert.Contains("x86_64 and aarch64", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compile_CallNamedTwice_Throws()
    {
        SyscallRuleGroup[] policy = [new("a", "r", [new("mount", 1)]), new("b", "r", [new("mount", 1)])];

        var error = Assert.Throws<InvalidOperationException>(() => SeccompCompiler.Compile(policy, SyscallAbi.X64));
        Assert.Contains("mount twice", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compile_CallWithoutNumber_Throws()
    {
        SyscallRuleGroup[] policy = [new("a", "r", [new("mount_everything", 1)])];

        var error = Assert.Throws<InvalidOperationException>(() => SeccompCompiler.Compile(policy, SyscallAbi.X64));
        Assert.Contains("mount_everything", error.Message, StringComparison.Ordinal);
    }
}
