using System.Text.Json;
using System.Text.Json.Serialization;
using Apiary.Agents;
using Apiary.Configuration;
using Apiary.Governance;
using Apiary.Governance.Pipeline;
using Apiary.Storage.Sqlite;
using Command = System.CommandLine.Command;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary policy</c>: work on policies before they govern anything. <c>policy test</c> replays every recorded
/// <c>proposal.decided</c> against a candidate policy and lists the proposals it would decide differently.
/// </summary>
internal static class PolicyCommand
{
    public static Command Create(CliContext context)
    {
        var candidate = new Argument<string>("candidate") { Description = "A policy file (.yaml), or a folder of them, to try in place of policies/." };
        var json = CommonOptions.Json();
        var test = new Command("test", "Replay every proposal recorded in the home's event log against a candidate policy and list those it would decide differently. Exit 0 when the replay ran, whatever it found.")
        {
            candidate, json,
        };
        test.SetAction(async (parse, cancellationToken) =>
        {
            var raw = parse.GetValue(candidate)!;
            var policy = await LoadCandidateAsync(context, raw).ConfigureAwait(false);
            var home = CommonOptions.LocateHome(parse, context);
            var storePath = Path.Combine(home.Root, AuditCommand.StoreFileName);
            if (!home.Exists || !File.Exists(storePath))
            {
                throw CliException.Failure(
                    $"there is no event log at {storePath} ({CommonOptions.Describe(home.Source)}); nothing was recorded to replay");
            }

            var report = await ReplayAsync(storePath, policy, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(context.Out, report, CliJsonContext.Default.PolicyTestJson).ConfigureAwait(false);
                return ExitCodes.Success;
            }

            foreach (var d in report.Differences)
            {
                await context.Out.WriteLineAsync(
                    $"{d.Proposal} {d.Kind} {d.CommandLine}: {d.RecordedDecision} ({d.RecordedRule}) -> {d.NewDecision} ({d.NewRule})").ConfigureAwait(false);
            }

            foreach (var s in report.Skipped)
            {
                await context.Error.WriteLineAsync($"apiary: proposal {s.Proposal} not replayed: {s.Reason}").ConfigureAwait(false);
            }

            await context.Out.WriteLineAsync($"{report.Replayed} proposals replayed, {report.Different} would be decided differently").ConfigureAwait(false);
            await context.Out.WriteLineAsync($"note: {PolicyReplay.EvaluatorNote}").ConfigureAwait(false);
            return ExitCodes.Success;
        });

        var strict = new Option<bool>("--strict") { Description = "Exit 1 on warnings too (lint findings and loader warnings), not only on errors." };
        var check = new Command("check", "Load and validate the home's policies (policies/*.yaml) as the server does, then lint them: rules an earlier rule shadows, rules nothing can reach, allow rules that let through programs able to run arbitrary code. Every error and warning has its file, line and column. Exit 0 when they load (warnings alone too, unless --strict), 1 when they do not.")
        {
            json, strict,
        };
        check.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            if (!home.Exists)
            {
                throw CommonOptions.MissingHome(home);
            }

            var loaded = PolicyLoader.LoadDirectory(home.PoliciesDirectory);
            var findings = loaded.Policy is { } policy ? PolicyLint.Check(policy) : [];
            var warnings = loaded.Diagnostics.Count(d => d.Severity == DiagnosticSeverity.Warning) + findings.Count;
            var exit = !loaded.Succeeded || (parse.GetValue(strict) && warnings > 0) ? ExitCodes.Failure : ExitCodes.Success;
            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(
                    context.Out,
                    new PolicyCheckJson(
                        loaded.Succeeded,
                        loaded.Policy?.Count ?? 0,
                        warnings,
                        [.. loaded.Diagnostics.Select(d => d.ToString())],
                        [.. findings.Select(f => new PolicyLintJson(f.Code, f.Rule, f.Diagnostic.File, f.Diagnostic.Line, f.Diagnostic.Column, f.Diagnostic.Message))]),
                    CliJsonContext.Default.PolicyCheckJson).ConfigureAwait(false);
                return exit;
            }

            await CommonOptions.ReportAsync(context, loaded.Diagnostics).ConfigureAwait(false);
            await CommonOptions.ReportAsync(context, findings.Select(f => f.Diagnostic)).ConfigureAwait(false);
            await context.Out.WriteLineAsync(loaded.Succeeded
                ? $"policies load: {loaded.Policy!.Count} rules from {home.PoliciesDirectory}; {warnings} {(warnings == 1 ? "warning" : "warnings")}{(exit != ExitCodes.Success ? " (--strict: exit 1)" : "")}"
                : $"policies do not load: the server refuses every proposal until the errors above are fixed").ConfigureAwait(false);
            return exit;
        });

        return new Command("policy", "Check policies, and try them before they govern anything.")
        {
            check,
            test,
        };
    }

    private static async Task<Policy> LoadCandidateAsync(CliContext context, string raw)
    {
        var full = Path.GetFullPath(raw, context.CurrentDirectory);
        PolicyLoadResult loaded;
        if (Directory.Exists(full))
        {
            loaded = PolicyLoader.LoadDirectory(full);
        }
        else if (File.Exists(full))
        {
            loaded = PolicyLoader.Parse(raw, await File.ReadAllTextAsync(full).ConfigureAwait(false));
        }
        else
        {
            throw CliException.BadInput($"there is no policy file or folder at {full}");
        }

        await CommonOptions.ReportAsync(context, loaded.Diagnostics).ConfigureAwait(false);
        return loaded.Policy ?? throw CliException.BadInput($"the candidate policy {raw} cannot be loaded (above)");
    }

    private static async Task<PolicyTestJson> ReplayAsync(string storePath, Policy candidate, CancellationToken cancellationToken)
    {
        PolicyReplayReport report;
        await using (var store = await SqliteEventStore.OpenAsync(storePath, cancellationToken: cancellationToken).ConfigureAwait(false))
        {
            report = await PolicyReplay.ReplayAsync(store, candidate, cancellationToken).ConfigureAwait(false);
        }

        return new PolicyTestJson(
            report.Replayed,
            report.Changes.Count,
            false,
            PolicyReplay.EvaluatorNote,
            [.. report.Changes.Select(c => new PolicyTestDifferenceJson(c.Proposal, c.Kind, c.CommandLine, c.Before, c.BeforeRule, c.After, c.AfterRule, c.AfterReason))],
            [.. report.Skipped.Select(s => new PolicyTestSkippedJson(s.Proposal, s.Reason))]);
    }
}

/// <summary>What <c>apiary policy check --json</c> prints.</summary>
internal sealed record PolicyCheckJson(bool Loads, int Rules, int Warnings, IReadOnlyList<string> Diagnostics, IReadOnlyList<PolicyLintJson> Findings);

/// <summary>One lint finding of <c>apiary policy check --json</c>: <c>shadowed</c>, <c>unreachable</c> or <c>arbitrary-code</c>.</summary>
internal sealed record PolicyLintJson(string Code, string Rule, string? File, int? Line, int? Column, string Message);

/// <summary>What <c>apiary policy test --json</c> prints.</summary>
internal sealed record PolicyTestJson(
    int Replayed,
    int Different,
    bool EvaluatorsReplayed,
    string Note,
    IReadOnlyList<PolicyTestDifferenceJson> Differences,
    IReadOnlyList<PolicyTestSkippedJson> Skipped);

/// <summary>A proposal the candidate would decide differently.</summary>
internal sealed record PolicyTestDifferenceJson(
    string Proposal,
    string Kind,
    string CommandLine,
    string RecordedDecision,
    string RecordedRule,
    string NewDecision,
    string NewRule,
    string? NewReason);

/// <summary>A recorded proposal that was not replayed, and why.</summary>
internal sealed record PolicyTestSkippedJson(string Proposal, string Reason);
