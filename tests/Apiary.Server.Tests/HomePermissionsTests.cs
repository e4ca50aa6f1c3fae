using Apiary.IO;

namespace Apiary.Server.Tests;

/// <summary>
/// Every file of a home is its owner's alone (0600, folders 0700) from its creation, whatever the server makes while it
/// runs, and a home an older version left readable by others is tightened when a server starts; what an agent's
/// workspace holds keeps its modes.
/// </summary>
public sealed class HomePermissionsTests
{
    private const UnixFileMode Loose = (UnixFileMode)0b_111_111_111;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ServerStart_AndItsWork_LeaveEveryFileOfTheHomeOwnerOnly()
    {
        await using var t = await TestServer.StartAsync();

        // What makes files: a session (its lock, the agent's workspace) and a command in it (the log and its -wal and
        // -shm), a new agent, the dashboard's sign-in page (the keys of its antiforgery tokens).
        var session = await t.OpenSessionAsync();
        Assert.Equal("completed", (await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "echo", Args: ["x"]))).Status);
        (await t.Http.PostAsJsonAsync("/api/agents", new CreateAgentRequest("reviewer"), ApiJsonContext.Default.CreateAgentRequest, Ct)).EnsureSuccessStatusCode();
        using var browser = t.Client(null);
        (await browser.GetAsync("/signin", Ct)).EnsureSuccessStatusCode();
        foreach (var made in new[] { "events.db", "events.db-wal", "events.db-shm", "run/server.json", "run/server.lock", $"run/sessions/{session.Session.Id}.lock", "keys/operator.token", "agents/reviewer/AGENTS.md" })
        {
            Assert.True(File.Exists(Path.Combine(t.Home, made)), $"{made} is missing");
        }

        Assert.NotEmpty(Directory.GetFiles(Path.Combine(t.Home, "keys", "dashboard")));

        OwnerOnlyTree.AssertOwnerOnly(t.Home);
        await t.Server.DisposeAsync();
        OwnerOnlyTree.AssertOwnerOnly(t.Home);
    }

    [Fact]
    public async Task ServerStart_AHomeLeftReadableByOthers_IsTightened_ButNotWhatAWorkspaceHoldsNorWhatALinkLeadsTo()
    {
        using var root = new TempDirectory("apiary-modes");
        var home = root["home"];
        await (await StartAsync(root)).DisposeAsync();

        // An agent's script in its workspace, and links out of the home to a folder and a file of someone else's.
        var script = Path.Combine(home, "agents", "coder", "workspace", "build.sh");
        Directory.CreateDirectory(Path.GetDirectoryName(script)!);
        await File.WriteAllTextAsync(script, "#!/bin/sh\n", Ct);
        var elsewhere = root.CreateDirectory("elsewhere");
        var shared = root.Write("elsewhere/shared.txt", "x");
        File.CreateSymbolicLink(Path.Combine(home, "linked-folder"), elsewhere);
        File.CreateSymbolicLink(Path.Combine(home, "policies", "linked.yaml"), shared);

        // Everything as loose as can be, as an older version or a careless copy left it.
        foreach (var entry in new DirectoryInfo(root.Path).EnumerateFileSystemInfos("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint }))
        {
            entry.UnixFileMode = Loose;
        }

        Assert.NotEmpty(OwnerOnlyTree.Loose(home));

        await using (await StartAsync(root))
        {
            Assert.Equal([$"777 {script}"], OwnerOnlyTree.Loose(home));
        }

        Assert.Equal(Loose, File.GetUnixFileMode(elsewhere));
        Assert.Equal(Loose, File.GetUnixFileMode(shared));
        Assert.Equal(OwnerOnly.FolderPermissions, File.GetUnixFileMode(Path.GetDirectoryName(script)!));
    }

    private static Task<ApiaryServer> StartAsync(TempDirectory root) =>
        ApiaryServer.StartAsync(new ServerOptions { Home = root["home"], Urls = "http://127.0.0.1:0", UserHome = root.Path }, Ct);
}
