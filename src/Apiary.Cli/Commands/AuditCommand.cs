using System.Text.Json.Serialization;
using Apiary.Agents;
using Apiary.Events;
using Apiary.Home;
using Apiary.Storage.Sqlite;
using Apiary.Text;

namespace Apiary.Cli.Commands;

/// <summary><c>apiary audit</c>: checks on the event log, the record of everything agents did, and its retention.</summary>
internal static class AuditCommand
{
    /// <summary>The event store's file inside a home.</summary>
    public const string StoreFileName = "events.db";

    public static Command Create(CliContext context) =>
        new("audit", "Check the event log, the tamper-evident record of every decision and side effect, and purge old bodies from it.")
        {
            Verify(context), Purge(context),
        };

    private static Command Verify(CliContext context)
    {
        var json = CommonOptions.Json();
        var publicKey = new Option<string?>("--public-key")
        {
            Description = $"Verify the checkpoints with this copy of the public key, one kept apart from the home, instead of keys/{AuditFiles.PublicKeyFileName}.",
            HelpName = "FILE",
        };
        var command = new Command("verify", $"Check the home's event log ({StoreFileName}): its hash chain, every signed checkpoint, that the newest checkpoint ({AuditFiles.HeadName}) is still covered, and that every missing body was purged. Exit 1 when anything is wrong.")
        {
            publicKey, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            if (!home.Exists)
            {
                throw CommonOptions.MissingHome(home);
            }

            var keyPath = parse.GetValue(publicKey) is { } raw ? Path.GetFullPath(raw, context.CurrentDirectory) : null;
            if (keyPath is not null && !File.Exists(keyPath))
            {
                throw CliException.BadInput($"there is no public key at {keyPath} (--public-key)");
            }

            // The log is read from its file, with or without a server: a server refuses a damaged log, and this says why.
            var path = Path.Combine(home.Root, StoreFileName);
            var files = new AuditFiles(home.Root, keyPath);
            AuditReport report;
            if (File.Exists(path))
            {
                await using var store = await SqliteEventStore.OpenAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
                report = await AuditVerifier.VerifyAsync(store, files, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                report = await AuditVerifier.VerifyAsync(null, files, cancellationToken).ConfigureAwait(false);
            }

            var exitCode = report.IsIntact ? ExitCodes.Success : ExitCodes.Failure;
            if (parse.GetValue(json))
            {
                var first = report.Problems.Count > 0 ? report.Problems[0] : null;
                await JsonOutput.WriteAsync(
                    context.Out,
                    new AuditVerifyJson(path, report.IsIntact, report.Events, first?.Position, first?.Reason, report.Checkpoints, report.KeyId, report.Head, report.Problems, report.MoreProblems, report.Accepted),
                    CliJsonContext.Default.AuditVerifyJson).ConfigureAwait(false);
                return exitCode;
            }

            foreach (var line in Describe(report, files))
            {
                await context.Out.WriteLineAsync(line).ConfigureAwait(false);
            }

            return exitCode;
        });
        return command;
    }

    /// <summary>The report for people: the problems first (or <c>intact: N events</c>), then the checkpoints and any accepted damage.</summary>
    private static IEnumerable<string> Describe(AuditReport report, AuditFiles files)
    {
        if (report.IsIntact)
        {
            yield return $"intact: {report.Events} events";
        }
        else
        {
            foreach (var problem in report.Problems)
            {
                yield return problem.ToString();
            }

            if (report.MoreProblems > 0)
            {
                yield return $"... and {report.MoreProblems} more";
            }
        }

        yield return report.Head is { } head && report.KeyId is { } key
            ? $"checkpoints: {report.Checkpoints} in the log verified with {files.PublicKeyName} (key {key}); the newest, in {AuditFiles.HeadName}, covers position {head.Position} (signed {Time(head.At)})"
            : report.Checkpoints > 0
                ? $"checkpoints: {report.Checkpoints} in the log verified, but none outside it ({AuditFiles.HeadName})"
                : "checkpoints: none yet (a server signs one when it stops, and while it runs every 1000 events or 60 seconds after new ones)";
        foreach (var accepted in report.Accepted)
        {
            yield return $"accepted: damage up to position {accepted.Through}, by {accepted.By} at {Time(accepted.At)} ({accepted.Problems.Count} problem{(accepted.Problems.Count == 1 ? "" : "s")}, recorded at position {accepted.Position})";
        }

        if (!report.IsIntact)
        {
            var count = report.Problems.Count + report.MoreProblems;
            yield return $"damaged: {count} problem{(count == 1 ? "" : "s")} in {report.Events} events; docs/events.md says what each means";
        }
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static Command Purge(CliContext context)
    {
        var olderThan = new Option<string?>("--older-than")
        {
            Description = "Purge the bodies of events older than this duration, such as 30d or 12h (default: retention.bodies in apiary.yaml).",
            HelpName = "DURATION",
        };
        var dryRun = new Option<bool>("--dry-run") { Description = "Count the bodies that would be purged; change nothing." };
        var json = CommonOptions.Json();
        var command = new Command("purge", $"Delete the bodies (command output, message bodies) of events older than a duration from the home's event log ({StoreFileName}). The events themselves and the hash chain are kept, so 'apiary audit verify' still passes.")
        {
            olderThan, dryRun, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            var (age, source) = await AgeAsync(parse.GetValue(olderThan), home, context, cancellationToken).ConfigureAwait(false);
            var now = TimeProvider.System.GetUtcNow();

            // Whole seconds, so the cutoff printed is exactly the one applied.
            now = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
            var cutoff = age < now - DateTimeOffset.MinValue ? now - age : DateTimeOffset.MinValue;
            var isDryRun = parse.GetValue(dryRun);
            var path = Path.Combine(home.Root, StoreFileName);
            long bodies = 0;

            // Opening would create an empty log; an absent log has no bodies.
            if (File.Exists(path))
            {
                await using var store = await SqliteEventStore.OpenAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
                bodies = isDryRun
                    ? await store.CountBodiesAsync(cutoff, cancellationToken).ConfigureAwait(false)
                    : await store.PurgeBodiesAsync(cutoff, cancellationToken: cancellationToken).ConfigureAwait(false);
            }

            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(
                    context.Out,
                    new AuditPurgeJson(path, isDryRun, DurationText.Format(age), JsonOutput.Text(source), cutoff, bodies),
                    CliJsonContext.Default.AuditPurgeJson).ConfigureAwait(false);
                return ExitCodes.Success;
            }

            var events = bodies == 1 ? "1 event" : $"{bodies} events";
            var when = $"older than {cutoff.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture)} " +
                (source == SettingSource.HomeConfig ? $"(retention.bodies: {DurationText.Format(age)})" : $"({DurationText.Format(age)})");
            await context.Out.WriteLineAsync(isDryRun
                ? $"would purge the bodies of {events} {when}; nothing was changed (--dry-run)"
                : $"purged the bodies of {events} {when}; the audit skeleton and hash chain are kept").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>How old a body must be to be purged: <c>--older-than</c>, else the home's <c>retention.bodies</c>.</summary>
    private static async Task<(TimeSpan Age, SettingSource Source)> AgeAsync(string? option, ApiaryHome home, CliContext context, CancellationToken cancellationToken)
    {
        if (option is not null)
        {
            return DurationText.TryParse(option, out var age) && age > TimeSpan.Zero
                ? (age, SettingSource.CommandLine)
                : throw CliException.BadInput($"--older-than must be {DurationText.Expected}, and more than zero, not '{option}'");
        }

        var (config, diagnostics) = await HomeConfig.LoadAsync(home, cancellationToken).ConfigureAwait(false);
        await CommonOptions.ReportAsync(context, diagnostics).ConfigureAwait(false);
        if (config is null)
        {
            throw CliException.Failure($"{home.ConfigFile} has errors (above); fix them, or pass --older-than");
        }

        return config.RetainBodies is { } retain
            ? (retain, SettingSource.HomeConfig)
            : throw CliException.BadInput($"no age to purge by: pass --older-than DURATION (such as 30d), or set retention.bodies in {home.ConfigFile} (such as 'retention: {{ bodies: 90d }}')");
    }
}

/// <summary>
/// What <c>apiary audit verify --json</c> prints: whether the log is intact, the first problem's position and reason (as
/// before checkpoints), the checkpoints that hold, the key they were verified with, the newest checkpoint, every problem,
/// and the damage accepted earlier.
/// </summary>
internal sealed record AuditVerifyJson(
    string Store,
    bool Intact,
    long Events,
    long? BrokenPosition,
    string? Reason,
    int Checkpoints,
    string? Key,
    AuditCheckpoint? Head,
    IReadOnlyList<AuditProblem> Problems,
    long MoreProblems,
    IReadOnlyList<AuditAcceptance> Accepted);

/// <summary>
/// What <c>apiary audit purge --json</c> prints: the bodies purged (or, with <c>--dry-run</c>, that would be) of events
/// committed before <c>Cutoff</c>, which is now minus <c>OlderThan</c>; <c>Source</c> says where that age came from.
/// </summary>
internal sealed record AuditPurgeJson(string Store, bool DryRun, string OlderThan, string Source, DateTimeOffset Cutoff, long Bodies);
