using Apiary.Events;
using Apiary.Server.Dashboard;
using Microsoft.Extensions.DependencyInjection;

namespace Apiary.Server.Tests;

/// <summary>
/// The sessions list the dashboard shows comes from the log, not from one server's memory: a restarted server lists the
/// sessions of the one before it (closed, or never closed because it stopped), with their proposals counted once each,
/// and then its own as they open.
/// </summary>
public sealed class SessionDirectoryTests : IDisposable
{
    private readonly TempDirectory _root = new("apiary-session-directory");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task RestartedServer_ListsTheEarlierServersSessions_ThenItsOwn()
    {
        string closed, leftOpen;
        await using (var first = await InMemoryServer.StartAsync(_root, new ScriptedModelCatalog(new ScriptedChatClient())))
        {
            closed = (await first.Client.OpenSessionAsync("coder", Ct)).Session.Id;
            foreach (var file in new[] { "src/a.txt", "src/b.txt" })
            {
                Assert.Equal("completed", (await first.Client.ProposeAsync(closed, new ProposalRequest("write_file", Path: file, Content: "x"), wait: true, cancellationToken: Ct)).Status);
            }

            await first.Client.CloseSessionAsync(closed, Ct);
            leftOpen = (await first.Client.OpenSessionAsync("coder", Ct)).Session.Id;
        }

        await using var second = await InMemoryServer.StartAsync(_root, new ScriptedModelCatalog(new ScriptedChatClient()));
        var feed = second.Server.App.Services.GetRequiredService<DashboardFeed>();
        await feed.Sessions.Ready.WaitAsync(TimeSpan.FromSeconds(30), Ct);

        var rows = feed.Sessions.List(id => second.Runtime.Sessions.Find(id) is not null, 100);
        var earlier = Assert.Single(rows, r => r.Id == closed);
        Assert.Equal(("coder", 2, false), (earlier.Agent, earlier.Proposals, earlier.IsOpen));
        Assert.StartsWith("closed ", earlier.Status, StringComparison.Ordinal);
        // The first server stopped cleanly, so it closed (on the record) the session it left open.
        var leftByTheStop = Assert.Single(rows, r => r.Id == leftOpen);
        Assert.Equal((false, false), (leftByTheStop.Orphaned, leftByTheStop.IsOpen));
        Assert.StartsWith("closed ", leftByTheStop.Status, StringComparison.Ordinal);

        // A session of this server is in the list before any page hears that it opened.
        var heard = new TaskCompletionSource<IReadOnlyList<SessionRow>>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var listening = feed.Listen(e =>
        {
            if (e.Type == "session.opened")
            {
                heard.TrySetResult(feed.Sessions.List(id => second.Runtime.Sessions.Find(id) is not null, 100));
            }
        });
        var mine = (await second.Client.OpenSessionAsync("coder", Ct)).Session.Id;
        var now = await heard.Task.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(mine, now[0].Id);
        Assert.True(now[0].IsOpen);
        Assert.Equal(3, now.Count);

        // The limit keeps the newest.
        Assert.Equal([mine], feed.Sessions.List(id => second.Runtime.Sessions.Find(id) is not null, 1).Select(r => r.Id));
    }

    [Fact]
    public void Apply_EventsOfOtherStreamsAndUnreadableData_LeaveTheListAsItWas()
    {
        var directory = new SessionDirectory();
        directory.Apply(Event(1, "agent-coder", "session.opened", "{}"));
        directory.Apply(Event(2, "session-s1", "session.opened", "not json"));
        directory.Apply(Event(3, "session-s2", "session.closed", """{"session":"s2","agent":"coder","by":"operator","at":"2026-11-21T00:00:00Z"}"""));

        Assert.Equal(0, directory.Count);
    }

    [Fact]
    public void List_ASessionOpenedSinceStart_IsOpenEvenBeforeTheServerHoldsIt_OneFromBeforeIsOrphaned()
    {
        // The server records session.opened before it keeps the session, so a page hearing the event may not find it yet.
        var directory = new SessionDirectory();
        directory.Apply(Event(1, "session-old", "session.opened", Opened("old")));
        directory.MarkReady(1);
        directory.Apply(Event(2, "session-new", "session.opened", Opened("new")));

        var rows = directory.List(_ => false, 10).ToDictionary(r => r.Id);
        Assert.Equal((true, false), (rows["new"].IsOpen, rows["new"].Orphaned));
        Assert.Equal((false, true), (rows["old"].IsOpen, rows["old"].Orphaned));

        // One from before that this server took up again (a resumed run's) is open.
        Assert.True(directory.List(id => id == "old", 10).Single(r => r.Id == "old").IsOpen);
    }

    private static string Opened(string session) =>
        $$"""{"session":"{{session}}","agent":"coder","by":"operator","at":"2026-11-21T00:00:00Z"}""";

    private static RecordedEvent Event(long position, string stream, string type, string data) =>
        new(position, stream, 1, type, DateTimeOffset.UnixEpoch, System.Text.Encoding.UTF8.GetBytes(data), null, new byte[32], new byte[32], new byte[32]);
}
