using Apiary.Cli.Output;
using System.CommandLine;
using System.Globalization;
using System.Text.Json.Serialization;
using Apiary.Agents;
using Apiary.Client;
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

    public static Command Create(CliContext context)
    {
        var json = CommonOptions.Json();
        var verify = new Command("verify", $"Ask the running server to recompute the hash chain of the home's event log ({StoreFileName}) and report whether it is intact or the first broken link. Exit 1 when it is broken.")
        {
            json,
        };
        verify.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            var path = Path.Combine(home.Root, StoreFileName);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            var verified = await client.VerifyAuditAsync(cancellationToken).ConfigureAwait(false);
            var result = verified.Intact ? ChainVerification.Intact(verified.Events) : ChainVerification.Broken(verified.Events, verified.BrokenAt ?? 0, verified.Problem ?? "the chain is broken");
            var exitCode = result.IsIntact ? ExitCodes.Success : ExitCodes.Failure;
            if (parse.GetValue(json))
            {
                var text = System.Text.Json.JsonSerializer.Serialize(
                    new AuditVerifyJson(path, result.IsIntact, result.EventCount, result.BrokenPosition, result.Reason),
                    CliJsonContext.Default.AuditVerifyJson);
                await context.Out.WriteLineAsync(text).ConfigureAwait(false);
                return exitCode;
            }

            await context.Out.WriteLineAsync(result.IsIntact
                ? $"intact: {result.EventCount} events"
                : $"broken at position {result.BrokenPosition}: {result.Reason}").ConfigureAwait(false);
            return exitCode;
        });

        return new Command("audit", "Check the event log, the tamper-evident record of every decision and side effect, and purge old bodies from it.")
        {
            verify, Purge(context),
        };
    }

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

/// <summary>What <c>apiary audit verify --json</c> prints.</summary>
internal sealed record AuditVerifyJson(string Store, bool Intact, long Events, long? BrokenPosition, string? Reason);

/// <summary>
/// What <c>apiary audit purge --json</c> prints: the bodies purged (or, with <c>--dry-run</c>, that would be) of events
/// committed before <c>Cutoff</c>, which is now minus <c>OlderThan</c>; <c>Source</c> says where that age came from.
/// </summary>
internal sealed record AuditPurgeJson(string Store, bool DryRun, string OlderThan, string Source, DateTimeOffset Cutoff, long Bodies);
