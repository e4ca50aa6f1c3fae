using System.Text;
using Apiary.Events;
using Apiary.Storage.Sqlite;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Logging;
using Apiary.Runtime;

namespace Apiary.Server.Tests;

/// <summary>
/// A server checks its log against the newest signed checkpoint before it serves it, refuses one that was cut or rewritten,
/// accepts it only when the operator says so (recording that), and signs checkpoints while it runs and when it stops.
/// </summary>
public sealed class AuditStartTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private readonly TempDirectory _root = new("apiary-audit-start");
    private readonly ILoggerFactory _logging;
    private readonly CapturingLoggerProvider _logs;

    public AuditStartTests() => _logging = CapturingLoggerProvider.CreateFactory(out _logs);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string Home => _root["home"];

    private string StorePath => Path.Combine(Home, "events.db");

    private AuditFiles Files => new(Home);

    public void Dispose()
    {
        _logging.Dispose();
        _root.Dispose();
    }

    [Fact]
    public async Task Start_FirstTime_MakesOwnerOnlyKeysAndACleanStopSignsTheWholeLog()
    {
        await using (await StartAsync())
        {
            Assert.Equal(OwnerOnly | UnixFileMode.UserExecute, File.GetUnixFileMode(Files.KeysDirectory));
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(Files.SigningKeyPath));
            Assert.Equal(OwnerOnly, File.GetUnixFileMode(Files.PublicKeyPath));
            Assert.False(File.Exists(Files.HeadPath), "nothing is signed before 1000 events, a day, or the stop");
        }

        var head = (await Files.ReadHeadAsync(Ct))!;
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(Files.HeadPath));
        var events = await EventLog.ReadFileAsync(StorePath);
        Assert.Equal(("server.stopped", head.Position), (events[^2].Type, events[^2].Position));
        Assert.Equal((AuditEvents.Checkpoint, head.Position + 1), (events[^1].Type, events[^1].Position));
        var report = await VerifyAsync();
        Assert.True(report.IsIntact, string.Join("; ", report.Problems));
        Assert.Equal(1, report.Checkpoints);
    }

    [Fact]
    public async Task Start_EveryNEvents_SignsCheckpointsWhileRunning()
    {
        await using var host = await StartAsync(new AuditCheckpointOptions { EveryEvents = 5, Interval = TimeSpan.FromDays(1) });
        var checkpointed = FirstAsync(host.Runtime.Store, AuditEvents.Checkpoint);

        for (var i = 0; i < 5; i++)
        {
            await host.Runtime.RecordAsync("test", new EventData("step", Encoding.UTF8.GetBytes($"{{\"i\":{i}}}")), Ct);
        }

        // Signed once five events were not covered; recorded in the log after whatever was appended meanwhile.
        var recorded = await checkpointed;
        var head = (await Files.ReadHeadAsync(Ct))!;
        Assert.Contains($"\"position\":{head.Position},", Encoding.UTF8.GetString(recorded.Data.Span), StringComparison.Ordinal);
        Assert.InRange(head.Position, 5, recorded.Position - 1);
        var verified = await host.Client.VerifyAuditAsync(Ct);
        Assert.True(verified.Intact, verified.Problem);
        Assert.Equal(1, verified.Checkpoints);
    }

    [Fact]
    public async Task Attack_TailCutWhileStopped_StartRefusedThenAcceptedWithTheFlagAndRecorded()
    {
        await using (var host = await StartAsync())
        {
            for (var i = 0; i < 5; i++)
            {
                await host.Runtime.RecordAsync("test", new EventData("step", Encoding.UTF8.GetBytes($"{{\"i\":{i}}}")), Ct);
            }
        }

        var head = (await Files.ReadHeadAsync(Ct))!;
        var cut = head.Position - 3;
        await LogTamper.CutAsync(StorePath, cut);

        var refused = await Assert.ThrowsAsync<ServerStartException>(() => StartAsync());
        Assert.Contains($"the event log {StorePath} does not match its signed checkpoints, so this server will not serve it:", refused.Message, StringComparison.Ordinal);
        Assert.Contains($"  cut between positions {cut} and {head.Position}: the log ends at position {cut - 1}", refused.Message, StringComparison.Ordinal);
        Assert.Contains("'apiary audit verify'", refused.Message, StringComparison.Ordinal);
        Assert.Contains("'apiary up --accept-damaged-log'", refused.Message, StringComparison.Ordinal);
        Assert.Equal(cut - 1, (await EventLog.ReadFileAsync(StorePath)).Count);

        long acceptedAt;
        await using (var host = await StartAsync(accept: true))
        {
            var events = await EventLog.ReadAllAsync(host.Runtime.Store);
            var accepted = Assert.Single(events, e => e.Type == AuditEvents.DamageAccepted);
            acceptedAt = accepted.Position;
            Assert.Equal(cut, acceptedAt);
            var data = Encoding.UTF8.GetString(accepted.Data.Span);
            Assert.Contains("\"kind\":\"cut_tail\"", data, StringComparison.Ordinal);
            Assert.Contains("apiary up --accept-damaged-log", data, StringComparison.Ordinal);
            Assert.Contains(Environment.UserName, data, StringComparison.Ordinal);

            // A new checkpoint anchors the log as accepted, the acceptance included.
            Assert.Equal((AuditEvents.Checkpoint, acceptedAt + 1), (events[(int)acceptedAt].Type, events[(int)acceptedAt].Position));
            Assert.Equal(acceptedAt, (await Files.ReadHeadAsync(Ct))!.Position);
            var warning = Assert.Single(_logs.Entries, e => e.Message.Contains("accepted the damaged event log", StringComparison.Ordinal));
            Assert.Equal((LogLevel.Warning, "Apiary.Runtime.Audit.LogGuard"), (warning.Level, warning.Category));
        }

        var report = await VerifyAsync();
        Assert.True(report.IsIntact, string.Join("; ", report.Problems));
        var acceptance = Assert.Single(report.Accepted);
        Assert.Equal((acceptedAt, cut - 1), (acceptance.Position, acceptance.Through));
        Assert.Equal(AuditProblemKind.CutTail, Assert.Single(acceptance.Problems).Kind);

        // Accepted once; later starts need no flag.
        await using (await StartAsync())
        {
        }
    }

    [Fact]
    public async Task Attack_SigningKeyRemoved_StartRefusedThenAcceptedWithANewKey()
    {
        await using (await StartAsync())
        {
        }

        var oldKey = await File.ReadAllTextAsync(Files.SigningKeyPath, Ct);
        File.Delete(Files.SigningKeyPath);

        var refused = await Assert.ThrowsAsync<ServerStartException>(() => StartAsync());
        Assert.Contains("unanchored: keys/audit-signing.key is missing, so no new checkpoint can be signed", refused.Message, StringComparison.Ordinal);

        await using (await StartAsync(accept: true))
        {
        }

        Assert.NotEqual(oldKey, await File.ReadAllTextAsync(Files.SigningKeyPath, Ct));
        var report = await VerifyAsync();
        Assert.True(report.IsIntact, string.Join("; ", report.Problems));
        Assert.Contains(Assert.Single(report.Accepted).Problems, p => p.Kind == AuditProblemKind.Unanchored);
    }

    private Task<InMemoryServer> StartAsync(AuditCheckpointOptions? checkpoints = null, bool accept = false) =>
        InMemoryServer.StartAsync(new ServerOptions
        {
            Home = Home,
            UserHome = _root.Path,
            ConfigureWebHost = web => web.UseTestServer(),
            Models = new ScriptedModelCatalog(new ScriptedChatClient()),
            LoggerFactory = _logging,
            AcceptDamagedLog = accept,

            // Only the test's own appends and the stop sign checkpoints, never the time.
            AuditCheckpoints = checkpoints ?? new AuditCheckpointOptions { Interval = TimeSpan.FromDays(1) },
        });

    private Task<InMemoryServer> StartAsync(bool accept) => StartAsync(null, accept);

    private async Task<AuditReport> VerifyAsync()
    {
        await using var store = await SqliteEventStore.OpenAsync(StorePath, cancellationToken: Ct);
        return await AuditVerifier.VerifyAsync(store, Files, Ct);
    }

    private static async Task<RecordedEvent> FirstAsync(SqliteEventStore store, string type)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromMinutes(1));
        await foreach (var e in store.SubscribeAsync(1, timeout.Token))
        {
            if (e.Type == type)
            {
                return e;
            }
        }

        throw new InvalidOperationException($"no {type} event");
    }
}
