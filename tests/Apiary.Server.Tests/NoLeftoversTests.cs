using System.Globalization;
using Apiary.Home;

namespace Apiary.Server.Tests;

/// <summary>
/// Nothing a server starts outlives it, even when it is killed with SIGKILL: its waiting sandbox starters end with
/// it, and the next server to start on the home removes what it left on the machine (its runtime folder, its commands'
/// cgroups) and records the sessions it left open as orphaned.
/// </summary>
public sealed class NoLeftoversTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ServerKilled_ItsStartersEndWithIt_AndTheNextServerCleansUpAndRecordsItsSessionsOrphaned()
    {
        using var root = new TempDirectory("apiary-leftovers");
        var home = new ApiaryHome(root["home"], root.Path);
        string session, runtimeFolder;
        int pid;
        await using (var first = await UpProcess.StartAsync(home, root.Path, Ct))
        {
            pid = first.Pid;
            using var opened = await first.Http.PostAsJsonAsync("/api/sessions", new OpenSessionRequest("coder"), ApiJsonContext.Default.OpenSessionRequest, Ct);
            session = (await opened.Content.ReadFromJsonAsync(ApiJsonContext.Default.OpenSessionResponse, Ct))!.Session.Id;
            using var ran = await first.Http.PostAsJsonAsync($"/api/sessions/{session}/proposals?wait=true", new ProposalRequest("exec", Command: "echo", Args: ["hi"]), ApiJsonContext.Default.ProposalRequest, Ct);
            Assert.Equal("completed", (await ran.Content.ReadFromJsonAsync(ApiJsonContext.Default.ProposalDto, Ct))!.Status);

            // The server keeps sandbox starters waiting, each a process naming the server's runtime folder.
            runtimeFolder = Assert.Single(Directory.GetDirectories(Path.GetTempPath(), $"apiary-sandbox-{pid.ToString(CultureInfo.InvariantCulture)}.*"));
            await WaitUntilAsync(() => ProcessesNaming(runtimeFolder).Count > 0);

            await first.KillAsync(Ct);
        }

        // Its starters end with it, by themselves (before the fix, four stayed forever with parent pid 1).
        await WaitUntilAsync(() => ProcessesNaming(runtimeFolder).Count == 0);
        Assert.Empty(ProcessesNaming(runtimeFolder));

        await using var second = await UpProcess.StartAsync(home, root.Path, Ct);
        Assert.False(Directory.Exists(runtimeFolder), $"{runtimeFolder} of the killed server is still there");
        Assert.Empty(CgroupsOf(pid));

        using var read = await second.Http.GetAsync($"/api/sessions/{session}", Ct);
        Assert.Equal("orphaned", (await read.Content.ReadFromJsonAsync(ApiJsonContext.Default.SessionDto, Ct))!.State);
        using var events = await second.Http.GetAsync("/api/events?type=session.orphaned", Ct);
        Assert.Contains(session, await events.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    private static List<int> ProcessesNaming(string folder)
    {
        var pids = new List<int>();
        var needle = System.Text.Encoding.UTF8.GetBytes(folder + "/");
        foreach (var proc in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (int.TryParse(Path.GetFileName(proc), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                    && File.ReadAllBytes(Path.Combine(proc, "cmdline")).AsSpan().IndexOf(needle) >= 0)
                {
                    pids.Add(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone meanwhile.
            }
        }

        return pids;
    }

    /// <summary>The cgroups named after the process <paramref name="pid"/> (<c>PID.STARTTIME-...</c>) under any <c>apiary</c> group.</summary>
    private static List<string> CgroupsOf(int pid) =>
        Directory.Exists("/sys/fs/cgroup")
            ? Directory.EnumerateDirectories("/sys/fs/cgroup", $"{pid.ToString(CultureInfo.InvariantCulture)}.*", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 5, IgnoreInaccessible = true })
                .Where(d => Path.GetFileName(Path.GetDirectoryName(d)) == "apiary").ToList()
            : [];

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(TimeSpan.FromSeconds(30));
        while (!condition())
        {
            await Task.Delay(50, limit.Token);
        }
    }
}
