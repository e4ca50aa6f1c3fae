namespace Apiary.Sandbox.Seccomp;

/// <summary>The values a seccomp filter returns (<c>SECCOMP_RET_*</c>), and the errno values the policy uses.</summary>
internal static class SeccompAction
{
    /// <summary>Kill the whole process (<c>SECCOMP_RET_KILL_PROCESS</c>, Linux 4.14+): the caller sees SIGSYS.</summary>
    public const uint KillProcess = 0x80000000;

    /// <summary>Run the system call (<c>SECCOMP_RET_ALLOW</c>).</summary>
    public const uint Allow = 0x7FFF0000;

    /// <summary><c>SECCOMP_RET_ERRNO</c>; the low 16 bits hold the errno.</summary>
    public const uint ErrnoBase = 0x00050000;

    /// <summary>Operation not permitted.</summary>
    public const int EPERM = 1;

    /// <summary>Function not implemented: the caller falls back to an older call as on an older kernel.</summary>
    public const int ENOSYS = 38;

    /// <summary>Fail the call with <paramref name="errno"/>, without running it.</summary>
    public static uint Errno(int errno) => ErrnoBase | ((uint)errno & 0xFFFF);

    /// <summary>The symbolic name of an errno the policy uses.</summary>
    public static string ErrnoName(int errno) => errno switch
    {
        EPERM => nameof(EPERM),
        ENOSYS => nameof(ENOSYS),
        _ => $"errno {errno}",
    };
}
