using Apiary.Sandbox.Seccomp;

namespace Apiary.Sandbox.Tests.Seccomp;

public sealed class SeccompDescribeTests
{
    [Fact]
    public void Describe_EveryPolicyCall_ListedOnceUnderAGroupWithAReason()
    {
        var groups = SeccompFilter.Describe();

        Assert.Equal(groups.Count, groups.Select(g => g.Name).Distinct().Count());
        Assert.All(groups, g => Assert.False(string.IsNullOrWhiteSpace(g.Reason)));
        var calls = groups.SelectMany(g => g.Calls).Select(c => c.Syscall).ToList();
        Assert.Equal(calls.Count, calls.Distinct().Count());
        Assert.Equal(SeccompPolicy.Groups.Sum(g => g.Rules.Count), calls.Count);
    }

    [Theory]
    [InlineData("add_key")] [InlineData("request_key")] [InlineData("keyctl")]
    [InlineData("ptrace")] [InlineData("process_vm_readv")] [InlineData("process_vm_writev")] [InlineData("kcmp")]
    [InlineData("mount")] [InlineData("umount2")] [InlineData("pivot_root")] [InlineData("move_mount")] [InlineData("open_tree")]
    [InlineData("fsopen")] [InlineData("fsconfig")] [InlineData("fsmount")] [InlineData("fspick")] [InlineData("mount_setattr")]
    [InlineData("unshare")] [InlineData("setns")] [InlineData("clone")] [InlineData("clone3")]
    [InlineData("bpf")] [InlineData("perf_event_open")] [InlineData("userfaultfd")]
    [InlineData("init_module")] [InlineData("finit_module")] [InlineData("delete_module")] [InlineData("kexec_load")] [InlineData("kexec_file_load")]
    [InlineData("io_uring_setup")] [InlineData("io_uring_enter")] [InlineData("io_uring_register")]
    [InlineData("reboot")] [InlineData("swapon")] [InlineData("swapoff")] [InlineData("acct")] [InlineData("settimeofday")]
    [InlineData("clock_settime")] [InlineData("clock_adjtime")] [InlineData("adjtimex")] [InlineData("syslog")] [InlineData("quotactl")]
    [InlineData("open_by_handle_at")] [InlineData("name_to_handle_at")] [InlineData("lookup_dcookie")] [InlineData("iopl")] [InlineData("ioperm")]
    [InlineData("vhangup")] [InlineData("uselib")] [InlineData("nfsservctl")] [InlineData("personality")] [InlineData("ioctl")]
    [InlineData("chmod")] [InlineData("fchmod")] [InlineData("fchmodat")] [InlineData("fchmodat2")] [InlineData("creat")]
    [InlineData("open")] [InlineData("openat")] [InlineData("openat2")]
    public void Describe_CallEveryProfileRefuses_IsListed(string syscall)
    {
        Assert.Contains(SeccompFilter.Describe().SelectMany(g => g.Calls), c => c.Syscall == syscall);
    }

    [Fact]
    public void Describe_Calls_SayTheirErrnoConditionAndArchitectures()
    {
        var calls = SeccompFilter.Describe().SelectMany(g => g.Calls).ToDictionary(c => c.Syscall);

        Assert.Equal(("ENOSYS", null), (calls["clone3"].Errno, calls["clone3"].Condition));
        Assert.Equal(("ENOSYS", null), (calls["openat2"].Errno, calls["openat2"].Condition));
        Assert.Equal(("EPERM", null), (calls["keyctl"].Errno, calls["keyctl"].Condition));
        Assert.Contains("CLONE_NEW", calls["clone"].Condition, StringComparison.Ordinal);
        Assert.Contains("S_ISUID", calls["fchmodat"].Condition, StringComparison.Ordinal);
        Assert.Contains("TIOCSTI", calls["ioctl"].Condition, StringComparison.Ordinal);
        Assert.Equal(["x86_64"], calls["chmod"].Architectures);
        Assert.Equal(["x86_64", "aarch64"], calls["mount"].Architectures);
    }
}
