using Apiary.Runtime.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Apiary.Home;
using Apiary.Storage.Sqlite;

namespace Apiary.Runtime.Audit;

/// <summary>
/// The server's side of a log that cannot be rewritten quietly. Before the server serves its home's log, the guard checks the
/// tail against the newest signed checkpoint (<see cref="AuditVerifier.VerifyTailAsync"/>) and the signing key against its
/// public half, and refuses a log that was cut, rewritten or unanchored, naming what is wrong and how to go on; with
/// <see cref="RuntimeOptions.AcceptDamagedLog"/> it records the operator's acceptance (<c>audit.damage-accepted</c>: every
/// problem of the whole log, by whom) and signs a new checkpoint. While the server runs, its <see cref="AuditCheckpointer"/>
/// signs checkpoints; disposing the guard signs the last one.
/// </summary>
internal sealed class LogGuard : IAsyncDisposable
{
    private readonly AuditKey _key;

    private LogGuard(AuditKey key, AuditCheckpointer checkpointer)
    {
        _key = key;
        Checkpointer = checkpointer;
    }

    /// <summary>Signs the checkpoints of the log while the server runs.</summary>
    public AuditCheckpointer Checkpointer { get; }

    /// <summary>Checks <paramref name="store"/> before it is served and starts signing its checkpoints.</summary>
    /// <exception cref="ServerStartException">The log is damaged and the operator did not accept it.</exception>
    public static async Task<LogGuard> StartAsync(ApiaryHome home, SqliteEventStore store, RuntimeOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        var files = new AuditFiles(home.Root);
        var log = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<LogGuard>();
        var (key, keyProblems) = await OpenKeyAsync(files, cancellationToken).ConfigureAwait(false);
        try
        {
            var report = await AuditVerifier.VerifyTailAsync(store, files, cancellationToken).ConfigureAwait(false);
            var problems = keyProblems.Concat(report.Problems).ToList();
            var tail = report.Tail;
            var anchorNow = false;
            if (problems.Count > 0 || report.MoreProblems > 0)
            {
                if (!options.AcceptDamagedLog)
                {
                    throw new ServerStartException(Refusal(store.Path, problems, report.MoreProblems));
                }

                // What the operator accepts is everything wrong in the whole log, not only in the tail the start looks at.
                var whole = await AuditVerifier.VerifyAsync(store, files, cancellationToken).ConfigureAwait(false);
                var accepted = keyProblems.Concat(whole.Problems).ToList();
                key = await RepairKeyAsync(files, key, cancellationToken).ConfigureAwait(false);
                var anchor = key.Sign(AuditCheckpoint.AcceptanceLabel, whole.Tail.Position, whole.Tail.Hash.Span, time.GetUtcNow());
                var by = $"{Environment.UserName} (pid {Environment.ProcessId}, apiary up --accept-damaged-log)";
                await store.AppendAsync(AuditEvents.Stream, ExpectedVersion.Any, [AuditEvents.DamageAcceptedEvent(anchor, accepted, by)], cancellationToken).ConfigureAwait(false);
                RuntimeLog.DamagedLogAccepted(log, store.Path, accepted.Count, AuditEvents.DamageAccepted);
                tail = whole.Tail;
                anchorNow = true;
            }
            else if (key is null)
            {
                // The first start of this home (or of a home from before checkpoints): its key is made now.
                key = AuditKey.Create();
                await files.WriteKeyPairAsync(key, cancellationToken).ConfigureAwait(false);
            }

            var checkpointer = new AuditCheckpointer(store, key!, files, options.AuditCheckpoints, time)
            {
                MakeDurable = store.FlushAsync,
                Warn = warning => RuntimeLog.AuditCheckpointTrouble(log, warning),
            };
            await checkpointer.StartAsync(tail, anchorNow, cancellationToken).ConfigureAwait(false);
            return new LogGuard(key!, checkpointer);
        }
        catch
        {
            key?.Dispose();
            throw;
        }
    }

    /// <summary>Signs the last checkpoint and lets go of the key.</summary>
    public async ValueTask DisposeAsync()
    {
        await Checkpointer.DisposeAsync().ConfigureAwait(false);
        _key.Dispose();
    }

    /// <summary>The signing key, or null when there is none yet, and what is wrong with the key files.</summary>
    private static async Task<(AuditKey? Key, List<AuditProblem> Problems)> OpenKeyAsync(AuditFiles files, CancellationToken cancellationToken)
    {
        var problems = new List<AuditProblem>();
        AuditKey? key = null;
        try
        {
            key = await files.ReadSigningKeyAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException)
        {
            problems.Add(Unanchored($"{AuditFiles.SigningKeyName} cannot be read ({ex.Message}), so no new checkpoint can be signed; restore it from a backup"));
            return (null, problems);
        }

        AuditKey? publicKey;
        try
        {
            publicKey = await files.ReadPublicKeyAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException)
        {
            // The check of the log reports it.
            return (key, problems);
        }

        using (publicKey)
        {
            if (key is null)
            {
                if (publicKey is not null || File.Exists(files.HeadPath))
                {
                    problems.Add(Unanchored(
                        $"{AuditFiles.SigningKeyName} is missing, so no new checkpoint can be signed; restore it from a backup (a new key would let whoever removed it sign a log of their own)"));
                }
            }
            else if (publicKey is null)
            {
                // The public half can always be made again from the private one.
                await files.WritePublicKeyAsync(key, cancellationToken).ConfigureAwait(false);
            }
            else if (!key.IsPairOf(publicKey))
            {
                problems.Add(Unanchored(
                    $"{files.PublicKeyName} (key {publicKey.Id}) is not the public half of {AuditFiles.SigningKeyName} (key {key.Id}): one of them was replaced"));
            }
        }

        return (key, problems);
    }

    /// <summary>After an acceptance: a key that signs (a new one when it was lost) and the public half that matches it.</summary>
    private static async Task<AuditKey> RepairKeyAsync(AuditFiles files, AuditKey? key, CancellationToken cancellationToken)
    {
        if (key is null)
        {
            key = AuditKey.Create();
            await files.WriteKeyPairAsync(key, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await files.WritePublicKeyAsync(key, cancellationToken).ConfigureAwait(false);
        }

        return key;
    }

    private static AuditProblem Unanchored(string reason) => new(AuditProblemKind.Unanchored, null, null, reason);

    private static string Refusal(string path, List<AuditProblem> problems, long more)
    {
        var lines = problems.Take(10).Select(p => $"  {p}").ToList();
        var rest = problems.Count - lines.Count + more;
        if (rest > 0)
        {
            lines.Add($"  ... and {rest} more");
        }

        return $"the event log {path} does not match its signed checkpoints, so this server will not serve it:\n" +
            string.Join("\n", lines) + "\n" +
            "Run 'apiary audit verify' for the whole log's report. To go on, restore events.db together with keys/ from a backup, " +
            "or serve the log as it is with 'apiary up --accept-damaged-log': the acceptance (what was found, by whom) is recorded in the log and a new checkpoint is signed.";
    }
}
