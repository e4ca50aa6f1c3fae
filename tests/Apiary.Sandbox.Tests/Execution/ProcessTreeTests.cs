using System.Diagnostics;
using Apiary.Sandbox.Execution;

namespace Apiary.Sandbox.Tests.Execution;

public sealed class ProcessTreeTests
{
    [Fact]
    public void HasLeftUserSpace_ThisProcess_False() =>
        Assert.False(ProcessTree.HasLeftUserSpace(Environment.ProcessId));

    [Fact]
    public async Task HasLeftUserSpace_RunningThenKilledAndReaped_FalseThenTrue()
    {
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", "600") { UseShellExecute = false })!;
        try
        {
            Assert.False(ProcessTree.HasLeftUserSpace(sleeper.Id));
        }
        finally
        {
            sleeper.Kill();
            await sleeper.WaitForExitAsync(TestContext.Current.CancellationToken);
        }

        Assert.True(ProcessTree.HasLeftUserSpace(sleeper.Id));
    }

    [Fact]
    public async Task HasLeftUserSpace_StoppedProcess_False()
    {
        // A stopped process has not left user space: it runs again on SIGCONT, so it must still be killed and waited for.
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", "600") { UseShellExecute = false })!;
        try
        {
            Assert.Equal(0, Native.Libc.Kill(sleeper.Id, 19)); // SIGSTOP
            Assert.False(ProcessTree.HasLeftUserSpace(sleeper.Id));
        }
        finally
        {
            sleeper.Kill();
            await sleeper.WaitForExitAsync(TestContext.Current.CancellationToken);
        }
    }
}
