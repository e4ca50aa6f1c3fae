using Apiary.Sandbox.Probe;
using Apiary.Sandbox.Seccomp;

namespace Apiary.Sandbox.Tests.Seccomp;

public sealed class SeccompProbeTests
{
    [Fact]
    public async Task RunAsync_ThisMachine_FilterLoads()
    {
        var result = await SeccompProbe.RunAsync(cancellationToken: TestContext.Current.CancellationToken);

        Assert.True(result.CanLoad, result.Detail);
        Assert.Contains("instructions loaded", result.Detail, StringComparison.Ordinal);
        var check = result.ToCapabilityCheck();
        Assert.Equal(("seccomp", CheckStatus.Ok, null), (check.Name, check.Status, check.Fix));
    }

    [Fact]
    public async Task RunAsync_BwrapMissing_SaysWhere()
    {
        var result = await SeccompProbe.RunAsync("/nonexistent/bwrap", TestContext.Current.CancellationToken);

        Assert.False(result.CanLoad);
        Assert.Contains("/nonexistent/bwrap", result.Detail, StringComparison.Ordinal);
        var check = result.ToCapabilityCheck();
        Assert.Equal(CheckStatus.Degraded, check.Status);
        Assert.NotNull(check.Meaning);
        Assert.NotNull(check.Fix);
    }

    [Fact]
    public async Task RunAsync_ProgramTheKernelRejects_ReportsBwrapsComplaint()
    {
        // A program that never returns: the kernel's checker refuses it, and bubblewrap says so.
        var noReturn = BpfInstruction.Encode([new BpfInstruction(BpfInstruction.LoadWordAbsolute, 0, 0, 0)]);

        var result = await SeccompProbe.RunAsync(null, noReturn, TestContext.Current.CancellationToken);

        Assert.False(result.CanLoad);
        Assert.Contains("could not run a command under the filter", result.Detail, StringComparison.Ordinal);
        Assert.Contains("bwrap:", result.Detail, StringComparison.Ordinal);
    }
}
