using static Apiary.Sandbox.Seccomp.SeccompAction;

namespace Apiary.Sandbox.Seccomp;

/// <summary>
/// What the seccomp filter refuses, on top of bubblewrap's namespaces: a deny-list modelled on Docker's default profile
/// (the calls it refuses to a container without capabilities) and on what Anthropic's sandbox-runtime refuses. Every
/// call not named here is allowed.
/// </summary>
/// <remarks>
/// Allowed on purpose, though Docker refuses some of them: <c>socket(AF_UNIX)</c> (sandbox-runtime refuses it because
/// its sandboxes see the host's sockets; Apiary's see no host socket unless a template mounts one, and abstract sockets
/// belong to the sandbox's own network namespace); <c>sethostname</c> and <c>setdomainname</c> (they change only the
/// sandbox's own UTS namespace); <c>mbind</c>, <c>set_mempolicy</c> and <c>get_mempolicy</c> (NUMA placement of the
/// caller's own memory, used by NUMA-aware runtimes); <c>fanotify_init</c> (without capabilities it only watches what
/// inotify could); <c>modify_ldt</c> (Wine and old runtimes; Docker allows it); <c>seccomp</c> and <c>landlock_*</c>
/// (they can only add restrictions); <c>sysfs</c> and <c>ustat</c> (obsolete read-only queries); the <c>chown</c> family
/// (changing an owner clears setuid and setgid bits).
/// </remarks>
internal static class SeccompPolicy
{
    /// <summary>Every <c>CLONE_NEW*</c> flag: NEWTIME (0x80), NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.</summary>
    /// <remarks>
    /// CLONE_NEWTIME shares its bit with clone's exit-signal byte, where no valid signal sets it, so refusing it there
    /// costs nothing; unshare takes it as a flag.
    /// </remarks>
    public const uint NamespaceFlags = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;

    /// <summary>unshare flags that create no namespace: CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_THREAD, CLONE_SYSVSEM.</summary>
    public const uint UnshareHarmlessFlags = 0x00000100 | 0x00000200 | 0x00000400 | 0x00000800 | 0x00010000 | 0x00040000;

    /// <summary>S_ISUID | S_ISGID.</summary>
    public const uint SetIdModeBits = 0xC00;

    /// <summary>O_CREAT | __O_TMPFILE: the open flags under which the mode argument is used (the same on both architectures).</summary>
    public const uint CreateFlags = 0x40 | 0x400000;

    /// <summary>TIOCSTI, push a character into a terminal's input (the same on both architectures).</summary>
    public const uint Tiocsti = 0x5412;

    /// <summary>TIOCLINUX, virtual-console requests, some of which paste into the console's input.</summary>
    public const uint Tioclinux = 0x541C;

    /// <summary>AF_VSOCK.</summary>
    public const uint VsockFamily = 40;

    /// <summary>The personalities Docker allows: PER_LINUX, PER_LINUX32, UNAME26, UNAME26 | PER_LINUX32, and 0xffffffff (query only).</summary>
    public static readonly IReadOnlyList<uint> SafePersonalities = [0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF];

    private static readonly AnyBitSet SetIdModeArg1 = new(1, SetIdModeBits, "when the mode (argument 1) has S_ISUID or S_ISGID");
    private static readonly AnyBitSet SetIdModeArg2 = new(2, SetIdModeBits, "when the mode (argument 2) has S_ISUID or S_ISGID");

    /// <summary>The groups, in the order the docs list them.</summary>
    public static readonly IReadOnlyList<SyscallRuleGroup> Groups =
    [
        new("namespaces",
            "A new namespace (a user namespace above all) gives a command a full capability set over what it creates and "
            + "reaches kernel code otherwise kept for root, the start of many container escapes; joining one would leave the "
            + "sandbox. clone3 passes its flags in memory a filter cannot read, so it answers ENOSYS and the C library falls "
            + "back to clone, whose flags are checked (Docker does the same).",
            [
                new("clone", EPERM, new AnyBitSet(0, NamespaceFlags, "when its flags (argument 0) ask for a new namespace (CLONE_NEW*)")),
                new("clone3", ENOSYS),
                new("unshare", EPERM, new AnyBitOutside(0, UnshareHarmlessFlags,
                    "unless its flags (argument 0) are only CLONE_FILES, CLONE_FS, CLONE_SYSVSEM, CLONE_VM, CLONE_SIGHAND or CLONE_THREAD")),
                new("setns", EPERM),
            ]),
        new("mounts",
            "The file system a command sees is the one bubblewrap built; no command may rearrange it (unmount a read-only "
            + "bind to reveal what is under it, remount it writable, change root). The new mount API is refused with the "
            + "old, or it would be a way around.",
            [
                new("mount", EPERM), new("umount2", EPERM), new("pivot_root", EPERM), new("chroot", EPERM),
                new("move_mount", EPERM), new("open_tree", EPERM), new("open_tree_attr", EPERM), new("fsopen", EPERM),
                new("fsconfig", EPERM), new("fsmount", EPERM), new("fspick", EPERM), new("mount_setattr", EPERM),
            ]),
        new("setuid and setgid files",
            "Inside the sandbox a command is uid 1000, but what it creates in the workspace belongs, on the host, to the user "
            + "that runs Apiary (often root). A setuid or setgid file left there would run with that user's rights for anyone "
            + "on the host who executes it. openat2 keeps its mode in a structure a filter cannot read, so it answers ENOSYS "
            + "and the C library falls back to openat.",
            [
                new("chmod", EPERM, SetIdModeArg1),
                new("fchmod", EPERM, SetIdModeArg1),
                new("fchmodat", EPERM, SetIdModeArg2),
                new("fchmodat2", EPERM, SetIdModeArg2),
                new("creat", EPERM, SetIdModeArg1),
                new("open", EPERM, new CreatesWithMode(1, CreateFlags, 2, SetIdModeBits,
                    "when its flags (argument 1) have O_CREAT or O_TMPFILE and the mode (argument 2) has S_ISUID or S_ISGID")),
                new("openat", EPERM, new CreatesWithMode(2, CreateFlags, 3, SetIdModeBits,
                    "when its flags (argument 2) have O_CREAT or O_TMPFILE and the mode (argument 3) has S_ISUID or S_ISGID")),
                new("mknod", EPERM, SetIdModeArg1),
                new("mknodat", EPERM, SetIdModeArg2),
                new("openat2", ENOSYS),
            ]),
        new("other processes",
            "Reading or changing another process's memory, descriptors or memory placement. The PID namespace already hides "
            + "the host's processes; refusing these also keeps one command from tampering with another in the same session "
            + "and removes ptrace's kernel attack surface. Debuggers (gdb, strace) do not work in a sandbox.",
            [
                new("ptrace", EPERM), new("process_vm_readv", EPERM), new("process_vm_writev", EPERM),
                new("kcmp", EPERM), new("pidfd_getfd", EPERM), new("process_madvise", EPERM),
                new("move_pages", EPERM), new("migrate_pages", EPERM),
            ]),
        new("kernel code",
            "Loading code into the kernel (modules, BPF programs) or replacing the kernel (kexec). Modules and kexec need "
            + "capabilities the sandbox lacks; unprivileged BPF has been a steady source of kernel exploits.",
            [
                new("init_module", EPERM), new("finit_module", EPERM), new("delete_module", EPERM),
                new("kexec_load", EPERM), new("kexec_file_load", EPERM), new("bpf", EPERM),
            ]),
        new("kernel attack surface",
            "Interfaces no ordinary command needs that exploits favour: io_uring runs file and socket operations inside the "
            + "kernel, out of this filter's sight (an io_uring open would get past the setuid rules), and has a long exploit "
            + "history, so Docker and sandbox-runtime refuse it too; userfaultfd lets a process stall the kernel at a page of "
            + "its choosing, the usual way to win a kernel race; perf_event_open exposes timing side channels.",
            [
                new("io_uring_setup", EPERM), new("io_uring_enter", EPERM), new("io_uring_register", EPERM),
                new("userfaultfd", EPERM), new("perf_event_open", EPERM),
            ]),
        new("keyrings",
            "Kernel keyrings are not confined by the namespaces bubblewrap creates the way files are, and the keyring API has "
            + "a long history of kernel bugs; no command needs it. Docker refuses it too.",
            [new("add_key", EPERM), new("request_key", EPERM), new("keyctl", EPERM)]),
        new("the host",
            "Calls that act on the whole machine and have no namespace: its clock, swap, process accounting, kernel log, "
            + "disk quotas, reboot, terminal lines. The kernel asks for capabilities the sandbox does not have; the filter "
            + "refuses them before that code runs. adjtimex and clock_adjtime also read the clock's state, but a filter cannot "
            + "tell a read from a change (the mode is in a structure), and ordinary programs do not use them.",
            [
                new("reboot", EPERM), new("swapon", EPERM), new("swapoff", EPERM), new("acct", EPERM),
                new("settimeofday", EPERM), new("clock_settime", EPERM), new("clock_adjtime", EPERM), new("adjtimex", EPERM),
                new("syslog", EPERM), new("quotactl", EPERM), new("quotactl_fd", EPERM), new("vhangup", EPERM),
            ]),
        new("hardware",
            "Direct access to I/O ports (x86_64 only): a way to the hardware around every driver.",
            [new("iopl", EPERM), new("ioperm", EPERM)]),
        new("file handles",
            "open_by_handle_at opens a file by its handle, with no path, so it ignores the mount namespace: the \"shocker\" "
            + "container escape read the host's files this way. name_to_handle_at is only useful with it.",
            [new("open_by_handle_at", EPERM), new("name_to_handle_at", EPERM)]),
        new("terminal injection",
            "TIOCSTI pushes characters into a terminal's input, to be run by the shell that owns the terminal once the "
            + "command ends; TIOCLINUX can paste into a virtual console. bubblewrap's --new-session already detaches commands "
            + "from the terminal; this also covers any terminal a command can still reach.",
            [new("ioctl", EPERM, new OneOf(1, [Tiocsti, Tioclinux], "when the request (argument 1) is TIOCSTI or TIOCLINUX"))]),
        new("execution domains",
            "Other personalities turn off address-space randomization (ADDR_NO_RANDOMIZE) or bring back old behaviours "
            + "(READ_IMPLIES_EXEC) that weaken exploit mitigations. The values allowed are Docker's.",
            [new("personality", EPERM, new NoneOf(0, SafePersonalities,
                "unless the persona (argument 0) is PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32 or 0xffffffff (query)"))]),
        new("host sockets",
            "vsock reaches the hypervisor and the host's virtual machines and is not confined by the network namespace, so "
            + "it would get past \"no network\". Docker refuses it too.",
            [new("socket", EPERM, new OneOf(0, [VsockFamily], "when the family (argument 0) is AF_VSOCK"))]),
        new("obsolete",
            "Interfaces gone from current kernels or unused for decades (a.out libraries, the NFS server's old control call, "
            + "binary sysctl, oprofile's cookie lookup), refused for the older kernels that still have them.",
            [new("uselib", EPERM), new("nfsservctl", EPERM), new("_sysctl", EPERM), new("lookup_dcookie", EPERM)]),
    ];
}
