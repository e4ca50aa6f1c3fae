namespace Apiary.Sandbox.Seccomp;

/// <summary>One refused system call: always, or only when <paramref name="When"/> holds.</summary>
/// <param name="Syscall">The kernel's name for the call, a key of <see cref="SyscallNumbers"/>.</param>
/// <param name="Errno">What the caller gets instead of the call.</param>
/// <param name="When">The arguments that make it refused; null when it always is.</param>
internal sealed record SyscallRule(string Syscall, int Errno, ArgumentCondition? When = null);

/// <summary>Refused calls that share a reason.</summary>
/// <param name="Name">A short name, such as <c>mounts</c>.</param>
/// <param name="Reason">Why they are refused.</param>
/// <param name="Rules">The calls.</param>
internal sealed record SyscallRuleGroup(string Name, string Reason, IReadOnlyList<SyscallRule> Rules);
