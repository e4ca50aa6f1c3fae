using System.Text.Json.Nodes;
using Apiary.Events;
using Apiary.Testing;

namespace Apiary.Tests.Events;

/// <summary>
/// Attacks on a checkpointed log by someone who can write <c>events.db</c> but not the signing key. Each one beats the plain
/// hash chain (<see cref="IEventStore.VerifyChainAsync"/> still says intact) and must be found by <see cref="AuditVerifier"/>.
/// </summary>
public sealed class AuditVerifierTests : IAsyncLifetime
{
    private AuditedLog _log = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _log = await AuditedLog.CreateAsync();

    public ValueTask DisposeAsync() => _log.DisposeAsync();

    [Fact]
    public async Task Verify_CheckpointedLog_IntactWithEveryCheckpoint()
    {
        var head = await _log.CheckpointedStepsAsync(10, 5);

        var report = await _log.VerifyAsync();

        Assert.True(report.IsIntact, string.Join("; ", report.Problems));
        Assert.Equal((17, 2, 16), (report.Events, report.Checkpoints, head.Position));
        Assert.Equal(head, report.Head);
        Assert.Equal(_log.Key.Id, report.KeyId);
        Assert.Equal(16, report.Tail.Covered);
        Assert.Equal(0, report.Tail.Uncovered);
    }

    [Fact]
    public async Task Attack_DecisionEditedAndLaterHashesRecomputed_ReportsTheRangeBetweenCheckpoints()
    {
        await _log.StepsAsync(5);
        await _log.CheckpointAsync();                                            // covers 5, recorded at 6
        await _log.StepsAsync(3);                                                // 7..9
        await _log.AppendAsync("proposal.decided", "{\"proposal\":\"p1\",\"decision\":\"deny\",\"rule\":\"deny-rm-root\"}");
        await _log.StepsAsync(2);                                                // 11..12
        await _log.CheckpointAsync();                                            // covers 12, recorded at 13
        await _log.StepsAsync(2);                                                // 14..15
        await _log.CheckpointAsync();                                            // covers 15, recorded at 16

        await LogTamper.RewriteAsync(_log.Store, _log.StorePath, 10, "{\"proposal\":\"p1\",\"decision\":\"allow\",\"rule\":\"allow-all\"}");

        Assert.True((await _log.Store.VerifyChainAsync(Ct)).IsIntact, "the forger recomputed every later hash, so the chain alone links");
        var report = await _log.VerifyAsync();
        var problem = Assert.Single(report.Problems);
        Assert.Equal((AuditProblemKind.Rewritten, 6L, 12L), (problem.Kind, problem.Position, problem.Through));
        Assert.StartsWith("rewritten between positions 6 and 12: the chain links, but position 12 does not have the hash signed in the checkpoint recorded at position 13", problem.ToString(), StringComparison.Ordinal);

        // A server's start check looks only at the tail, and still refuses the log.
        var tail = await AuditVerifier.VerifyTailAsync(_log.Store, _log.Files, Ct);
        Assert.Equal((AuditProblemKind.Rewritten, 15L), (Assert.Single(tail.Problems).Kind, tail.Problems[0].Position));
    }

    [Fact]
    public async Task Attack_NewestEventsCut_ReportsTheCutFromTheCheckpointOutsideTheLog()
    {
        await _log.CheckpointedStepsAsync(10, 5);                               // cover 10 (recorded at 11) and 16 (at 17)

        await LogTamper.CutAsync(_log.StorePath, 12);

        Assert.True((await _log.Store.VerifyChainAsync(Ct)).IsIntact, "what is left of the chain links");
        var report = await _log.VerifyAsync();
        var problem = Assert.Single(report.Problems);
        Assert.Equal((AuditProblemKind.CutTail, 12L, 16L), (problem.Kind, problem.Position, problem.Through));
        Assert.StartsWith($"cut between positions 12 and 16: the log ends at position 11, but the newest checkpoint ({AuditFiles.HeadName}, signed ", problem.ToString(), StringComparison.Ordinal);
        Assert.Equal(1, report.Checkpoints);

        var tail = await AuditVerifier.VerifyTailAsync(_log.Store, _log.Files, Ct);
        Assert.Equal(AuditProblemKind.CutTail, Assert.Single(tail.Problems).Kind);
        Assert.Equal(problem.Reason, tail.Problems[0].Reason);
    }

    [Fact]
    public async Task Attack_WholeLogDeleted_ReportsTheCut()
    {
        await _log.StepsAsync(4);
        await _log.CheckpointAsync();

        await LogTamper.CutAsync(_log.StorePath, 1);

        var problem = Assert.Single((await AuditVerifier.VerifyTailAsync(_log.Store, _log.Files, Ct)).Problems);
        Assert.Equal((AuditProblemKind.CutTail, 1L, 4L), (problem.Kind, problem.Position, problem.Through));
        Assert.Equal(AuditProblemKind.CutTail, Assert.Single((await AuditVerifier.VerifyAsync(null, _log.Files, Ct)).Problems).Kind);
    }

    [Fact]
    public async Task Attack_BodyNulledWithoutAPurge_ReportsThatBody()
    {
        await _log.AppendAsync("proposal.completed", "{\"exit\":0}", "secret output");
        await _log.AppendAsync("proposal.completed", "{\"exit\":1}", "incriminating output");
        await _log.CheckpointAsync();

        await LogTamper.NullBodyAsync(_log.StorePath, 2);

        Assert.True((await _log.Store.VerifyChainAsync(Ct)).IsIntact, "a body enters the chain only through its hash, which is kept");
        var problem = Assert.Single((await _log.VerifyAsync()).Problems);
        Assert.Equal((AuditProblemKind.BodyRemoved, 2L), (problem.Kind, problem.Position));
        Assert.StartsWith("body removed at position 2: the body of this proposal.completed (committed 2026-03-01T09:00:00Z) is gone, but no purge", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Purge_Legitimate_StillIntactAndAPurgeOfOtherTypesCoversNothingElse()
    {
        await _log.AppendAsync("proposal.completed", "{\"exit\":0}", "old output");
        await _log.AppendAsync("message.sent", "{\"to\":\"bob\"}", "old message");
        await _log.CheckpointAsync();
        _log.Clock.Advance(TimeSpan.FromDays(100));
        await _log.AppendAsync("proposal.completed", "{\"exit\":0}", "new output");

        Assert.Equal(1, await _log.Store.PurgeBodiesAsync(_log.Clock.GetUtcNow().AddDays(-30), ["proposal.completed"], Ct));

        var report = await _log.VerifyAsync();
        Assert.True(report.IsIntact, string.Join("; ", report.Problems));

        // The purge named its types: a message body removed by hand is not explained by it.
        await LogTamper.NullBodyAsync(_log.StorePath, 2);
        var problem = Assert.Single((await _log.VerifyAsync()).Problems);
        Assert.Equal((AuditProblemKind.BodyRemoved, 2L), (problem.Kind, problem.Position));
    }

    [Fact]
    public async Task Attack_CheckpointFileSignatureForged_Reported()
    {
        await _log.StepsAsync(3);
        var head = await _log.CheckpointAsync();
        await _log.StepsAsync(3);

        // Claim the checkpoint covers a later position, keeping the old signature: it no longer verifies.
        var last = await LastAsync();
        await _log.Files.WriteHeadAsync(head with { Position = last.Position, Hash = Convert.ToHexStringLower(last.Hash.Span) }, Ct);

        var problem = Assert.Single((await _log.VerifyAsync()).Problems);
        Assert.Equal(AuditProblemKind.BadSignature, problem.Kind);
        Assert.Equal($"bad signature: the checkpoint in {AuditFiles.HeadName} (covering position 7) does not verify with keys/{AuditFiles.PublicKeyFileName} (key {_log.Key.Id}): it was forged or altered", problem.ToString());
        Assert.Equal(AuditProblemKind.BadSignature, Assert.Single((await AuditVerifier.VerifyTailAsync(_log.Store, _log.Files, Ct)).Problems).Kind);
    }

    [Fact]
    public async Task Attack_InLogCheckpointForgedAndRecomputed_Reported()
    {
        await _log.StepsAsync(3);
        await _log.CheckpointAsync();                                            // covers 3, recorded at 4
        await _log.StepsAsync(2);

        var recorded = JsonNode.Parse((await _log.ReadAuditStreamAsync())[0].Data.Span)!;
        recorded["signature"] = Convert.ToBase64String(new byte[64]);
        await LogTamper.RewriteAsync(_log.Store, _log.StorePath, 4, recorded.ToJsonString());

        var problem = Assert.Single((await _log.VerifyAsync()).Problems);
        Assert.Equal((AuditProblemKind.BadSignature, 4L), (problem.Kind, problem.Position));
    }

    [Fact]
    public async Task Attack_KeySwappedForAnotherAndCheckpointFileResigned_Reported()
    {
        await _log.CheckpointedStepsAsync(5, 5);                                // cover 5 (recorded at 6) and 11 (at 12)
        await LogTamper.CutAsync(_log.StorePath, 8);

        // The forger makes a key pair of their own, puts it in keys/ and signs a checkpoint of the cut log with it.
        using var forger = AuditKey.Create();
        await _log.Files.WriteKeyPairAsync(forger, Ct);
        var last = await LastAsync();
        await _log.Files.WriteHeadAsync(forger.Sign(AuditCheckpoint.CheckpointLabel, last.Position, last.Hash.Span, _log.Clock.GetUtcNow()), Ct);

        var problem = Assert.Single((await _log.VerifyAsync()).Problems);
        Assert.Equal((AuditProblemKind.BadSignature, 6L), (problem.Kind, problem.Position));
        Assert.Contains($"is signed by key {_log.Key.Id}, but keys/{AuditFiles.PublicKeyFileName} is key {forger.Id}: the key was replaced", problem.Reason, StringComparison.Ordinal);

        // With the public key kept elsewhere, the forged checkpoint file itself is found too.
        var kept = Path.Combine(_log.Home, "kept-elsewhere.pub");
        await File.WriteAllTextAsync(kept, _log.Key.ExportPublicPem(), Ct);
        var report = await AuditVerifier.VerifyAsync(_log.Store, new AuditFiles(_log.Home, kept), Ct);
        Assert.Contains(report.Problems, p => p.Kind == AuditProblemKind.BadSignature && p.Position is null && p.Reason.Contains($"is signed by key {forger.Id}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Attack_EventEditedInPlace_KeepsTheBrokenLinkReport()
    {
        await _log.StepsAsync(4);
        await _log.CheckpointAsync();

        await LogTamper.Sqlite3Async(_log.StorePath, "UPDATE events SET data = CAST('{\"i\":99}' AS BLOB) WHERE position = 3;");

        var problems = (await _log.VerifyAsync()).Problems;
        Assert.Equal((AuditProblemKind.BrokenLink, 3L), (problems[0].Kind, problems[0].Position));
        Assert.StartsWith("broken at position 3: its hash does not match its content", problems[0].ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attack_CheckpointFileDeletedAndTailCut_ReportsTheMissingAnchor()
    {
        await _log.CheckpointedStepsAsync(4, 4);

        File.Delete(_log.Files.HeadPath);
        await LogTamper.CutAsync(_log.StorePath, 6);

        var problem = Assert.Single((await AuditVerifier.VerifyTailAsync(_log.Store, _log.Files, Ct)).Problems);
        Assert.Equal((AuditProblemKind.Unanchored, null), (problem.Kind, problem.Position));
        Assert.StartsWith($"unanchored: {AuditFiles.HeadName} is missing, but the log has 1 signed checkpoint:", problem.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_NeverCheckpointed_IntactWithoutAnchor()
    {
        await _log.StepsAsync(3);

        var report = await _log.VerifyAsync();

        Assert.True(report.IsIntact);
        Assert.Null(report.Head);
        Assert.Equal((3L, 0L, 3L), (report.Tail.Position, report.Tail.Covered, report.Tail.Uncovered));
    }

    private async Task<RecordedEvent> LastAsync()
    {
        RecordedEvent? last = null;
        await foreach (var e in _log.Store.ReadAllAsync(1, Ct))
        {
            last = e;
        }

        return last!;
    }
}
