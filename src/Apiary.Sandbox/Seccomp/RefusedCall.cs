namespace Apiary.Sandbox.Seccomp;

/// <summary>System calls the seccomp filter refuses for one reason, as <c>apiary doctor</c> and the docs report them.</summary>
/// <param name="Name">A short name, such as <c>mounts</c>.</param>
/// <param name="Reason">Why they are refused.</param>
/// <param name="Calls">The calls, in policy order.</param>
public sealed record RefusedCallGroup(string Name, string Reason, IReadOnlyList<RefusedCall> Calls);

/// <summary>One system call the seccomp filter refuses.</summary>
/// <param name="Syscall">The kernel's name for it, such as <c>keyctl</c>.</param>
/// <param name="Errno">What the caller gets instead: <c>EPERM</c>, or <c>ENOSYS</c> where the C library falls back to an older call.</param>
/// <param name="Condition">When it is refused, in words; null when it always is.</param>
/// <param name="Architectures">The kernel names of the supported architectures that have the call (<c>x86_64</c>, <c>aarch64</c>).</param>
public sealed record RefusedCall(string Syscall, string Errno, string? Condition, IReadOnlyList<string> Architectures);
