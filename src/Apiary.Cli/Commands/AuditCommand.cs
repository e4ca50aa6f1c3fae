using Apiary.Cli.Output;
using System.CommandLine;
using System.Text.Json.Serialization;
using Apiary.Events;
using Apiary.Storage.Sqlite;

namespace Apiary.Cli.Commands;

/// <summary><c>apiary audit</c>: checks on the event log, the record of everything agents did.</summary>
internal static class AuditCommand
{
    /// <summary>The event store's file inside a home.</summary>
    public const string StoreFileName = "events.db";

    public static Command Create(CliContext context)
    {
        var json = CommonOptions.Json();
        var verify = new Command("verify", $"Recompute the hash chain of the home's event log ({StoreFileName}) and report whether it is intact or the first broken link. Exit 1 when it is broken.")
        {
            json,
        };
        verify.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            var path = Path.Combine(home.Root, StoreFileName);
            ChainVerification result;
            if (!File.Exists(path))
            {
                // Opening would create an empty log; an absent log has nothing to break.
                result = ChainVerification.Intact(0);
            }
            else
            {
                await using var store = await SqliteEventStore.OpenAsync(path, cancellationToken: cancellationToken).ConfigureAwait(false);
                result = await store.VerifyChainAsync(cancellationToken).ConfigureAwait(false);
            }

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

        return new Command("audit", "Check the event log: the tamper-evident record of every decision and side effect.")
        {
            verify,
        };
    }
}

/// <summary>What <c>apiary audit verify --json</c> prints.</summary>
internal sealed record AuditVerifyJson(string Store, bool Intact, long Events, long? BrokenPosition, string? Reason);
