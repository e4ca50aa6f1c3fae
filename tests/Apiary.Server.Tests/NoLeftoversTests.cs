using System.Globalization;
using Apiary.Home;

namespace Apiary.Server.Tests;

/// <summary>
/// Nothing a server starts outlives it, even when it is killed with SIGKILL: its waiting sandbox starters end with
/// it, and the next server to start on the home removes what it left on the machine (its runtime folder, its commands'
/// cgroups) and records the sessions it left open as orphaned, leaving alone what a live server on the machine has.
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
        List<int> starters;
        int pid;
        await using (var first = await UpProcess.StartAsync(home, root.Path, Ct))
        {
            pid = first.Pid;
            using var opened = await first.Http.PostAsJsonAsync("/api/sessions", new OpenSessionRequest("coder"), ApiJsonContext.Default.OpenSessionRequest, Ct);
            session = (await opened.Content.ReadFromJsonAsync(ApiJsonContext.Default.OpenSessionResponse, Ct))!.Session.Id;
            using var ran = await first.Http.PostAsJsonAsync($"/api/sessions/{session}/proposals?wait=true", new ProposalRequest("exec", Command: "echo", Args: ["hi"]), ApiJsonContext.Default.ProposalRequest, Ct);
            Assert.Equal("completed", (await ran.Content.ReadFromJsonAsync(ApiJsonContext.Default.ProposalDto, Ct))!.Status);

            // The server keeps sandbox starters waiting, each a process naming the server's runtime folder (its FIFO there).
            // One thread starts them one after another, each after its FIFO: two FIFOs there mean the first one's
            // process has started.
            runtimeFolder = Assert.Single(Directory.GetDirectories(Path.GetTempPath(), $"apiary-sandbox-{pid.ToString(CultureInfo.InvariantCulture)}.*"));
            await WaitForFilesAsync(runtimeFolder, "start-*", 2);
            starters = ProcessesNaming(runtimeFolder);
            Assert.NotEmpty(starters);

            await first.KillAsync(Ct);
        }

        // Its starters end with it, by themselves (before the fix, four stayed forever with parent pid 1): woken by the
        // kernel when the last one exits (the sandbox's own pidfd wait), 30 seconds at most.
        await Task.Run(() => Apiary.Sandbox.Execution.ProcessTree.WaitForExit(starters, 30_000), Ct);

        Assert.Empty(ProcessesNaming(runtimeFolder));

        // A live server on another home, whose starters the cleanup must leave alone.
        await using var bystander = await UpProcess.StartAsync(new ApiaryHome(root["other"], root.Path), root.Path, Ct);
        var bystanderFolder = Assert.Single(Directory.GetDirectories(Path.GetTempPath(), $"apiary-sandbox-{bystander.Pid.ToString(CultureInfo.InvariantCulture)}.*"));
        await WaitForFilesAsync(bystanderFolder, "start-*", 2);
        var bystanderStarters = ProcessesNaming(bystanderFolder);
        Assert.NotEmpty(bystanderStarters);

        await using var second = await UpProcess.StartAsync(home, root.Path, Ct);
        Assert.False(Directory.Exists(runtimeFolder), $"{runtimeFolder} of the killed server is still there");
        Assert.Empty(CgroupsOf(pid));

        // What a live server has is not a dead one's: its folder, its starters and its commands are untouched.
        Assert.True(Directory.Exists(bystanderFolder));
        Assert.All(bystanderStarters, p => Assert.Contains(p, ProcessesNaming(bystanderFolder)));
        Assert.NotEmpty(CgroupsOf(bystander.Pid));
        using (var opened = await bystander.Http.PostAsJsonAsync("/api/sessions", new OpenSessionRequest("coder"), ApiJsonContext.Default.OpenSessionRequest, Ct))
        {
            var id = (await opened.Content.ReadFromJsonAsync(ApiJsonContext.Default.OpenSessionResponse, Ct))!.Session.Id;
            using var ran = await bystander.Http.PostAsJsonAsync($"/api/sessions/{id}/proposals?wait=true", new ProposalRequest("exec", Command: "echo", Args: ["alive"]), ApiJsonContext.Default.ProposalRequest, Ct);
            Assert.Equal("completed", (await ran.Content.ReadFromJsonAsync(ApiJsonContext.Default.ProposalDto, Ct))!.Status);
        }

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

    /// <summary>Returns once <paramref name="folder"/> holds at least <paramref name="count"/> entries matching <paramref name="pattern"/>, told by the file system.</summary>
    private static async Task WaitForFilesAsync(string folder, string pattern, int count)
    {
        var enough = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watcher = new FileSystemWatcher(folder, pattern) { EnableRaisingEvents = true };
        void Check()
        {
            if (Directory.GetFileSystemEntries(folder, pattern).Length >= count)
            {
                enough.TrySetResult();
            }
        }

        watcher.Created += (_, _) => Check();
        Check();
        await enough.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }
}
