using System.Net;
using Apiary.Agents;
using Apiary.Governance.KillSwitches;
using Command = System.CommandLine.Command;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary kill</c>: the kill switches of the running server of the home, through its API. Engaging one is recorded in
/// the event log first; the server then refuses new proposals in its scope and stops the commands running in it.
/// </summary>
internal static class KillCommand
{
    public static Command Create(CliContext context) => new("kill", "Stop agents: engage, release and list the kill switches (global, per agent, per session).")
    {
        Engage(context), Release(context), Status(context),
    };

    private static Command Engage(CliContext context)
    {
        var (agent, session) = ScopeOptions("stop");
        var reason = new Option<string>("--reason") { Description = "Why; recorded, and printed to whatever it stops.", HelpName = "TEXT", Required = true };
        var command = new Command("engage", "Engage a kill switch: everything (the default), one agent or one session. New proposals in its scope are denied and running commands are stopped until it is released.")
        {
            agent, session, reason,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var scope = ParseScope(parse.GetValue(agent), parse.GetValue(session));
            var why = parse.GetValue(reason);
            if (string.IsNullOrWhiteSpace(why))
            {
                throw CliException.BadInput("--reason must say why the kill switch is engaged");
            }

            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            var before = await client.ListKillSwitchesAsync(cancellationToken).ConfigureAwait(false);
            await client.EngageKillSwitchAsync(Request(scope, why), cancellationToken).ConfigureAwait(false);
            var engaged = (await client.ListKillSwitchesAsync(cancellationToken).ConfigureAwait(false)).FirstOrDefault(k => Matches(k, scope))
                ?? throw CliException.Failure($"the server did not list the kill switch for {scope} after engaging it; 'apiary kill status' shows what is engaged");
            var already = before.Any(k => Matches(k, scope)) ? " (it already was; the first reason stands)" : "";
            await context.Out.WriteLineAsync($"engaged: kill switch {scope} engaged by {engaged.EngagedBy}: {engaged.Reason}{already}").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Release(CliContext context)
    {
        var (agent, session) = ScopeOptions("release");
        var command = new Command("release", "Release a kill switch engaged with the same scope; work it blocked may run again unless another switch covers it.")
        {
            agent, session,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var scope = ParseScope(parse.GetValue(agent), parse.GetValue(session));
            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            try
            {
                await client.ReleaseKillSwitchAsync(Request(scope, null), cancellationToken).ConfigureAwait(false);
            }
            catch (ApiaryClientException ex) when (ex.Status == HttpStatusCode.NotFound)
            {
                await context.Error.WriteLineAsync($"apiary: no kill switch is engaged for {scope}; 'apiary kill status' lists those that are").ConfigureAwait(false);
                return ExitCodes.Failure;
            }

            await context.Out.WriteLineAsync($"released the kill switch for {scope}").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Status(CliContext context)
    {
        var json = CommonOptions.Json();
        var command = new Command("status", "List the engaged kill switches: scope, reason, who and when.") { json };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            var engaged = await client.ListKillSwitchesAsync(cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                var rows = engaged.Select(s => new KillSwitchJson(s.Level, string.IsNullOrEmpty(s.Id) ? null : s.Id, s.Reason, s.EngagedBy, s.EngagedAt)).ToList();
                await JsonOutput.WriteAsync(context.Out, new KillStatusJson(home.Root, rows), CliJsonContext.Default.KillStatusJson).ConfigureAwait(false);
                return ExitCodes.Success;
            }

            if (engaged.Count == 0)
            {
                await context.Out.WriteLineAsync("no kill switch is engaged").ConfigureAwait(false);
                return ExitCodes.Success;
            }

            foreach (var s in engaged)
            {
                await context.Out.WriteLineAsync($"{ScopeText(s)}: engaged by {s.EngagedBy} at {s.EngagedAt.ToUniversalTime():u}: {s.Reason}").ConfigureAwait(false);
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static (Option<string?> Agent, Option<string?> Session) ScopeOptions(string verb) =>
        (new Option<string?>("--agent") { Description = $"{Capital(verb)} only this agent's proposals.", HelpName = "NAME" },
         new Option<string?>("--session") { Description = $"{Capital(verb)} only this session's proposals.", HelpName = "ID" });

    private static KillSwitchScope ParseScope(string? agent, string? session)
    {
        if (agent is not null && session is not null)
        {
            throw CliException.BadInput("give --agent or --session, not both (or neither, for every agent)");
        }

        if (agent is not null)
        {
            return AgentName.TryCreate(agent, out var name, out var error)
                ? KillSwitchScope.Agent(name)
                : throw CliException.BadInput($"--agent: {error}");
        }

        return session is null ? KillSwitchScope.Global
            : string.IsNullOrWhiteSpace(session) ? throw CliException.BadInput("--session needs a session id")
            : KillSwitchScope.Session(session);
    }

    private static string Capital(string verb) => char.ToUpperInvariant(verb[0]) + verb[1..];

#pragma warning disable CA1308 // Levels are spelt in lower case on the wire, as in the event log.
    private static KillSwitchRequest Request(KillSwitchScope scope, string? reason) =>
        new(scope.Level.ToString().ToLowerInvariant(), scope.Level == KillSwitchLevel.Global ? null : scope.Id, reason);

    private static bool Matches(KillSwitchDto engaged, KillSwitchScope scope) =>
        string.Equals(engaged.Level, scope.Level.ToString(), StringComparison.OrdinalIgnoreCase) && (scope.Level == KillSwitchLevel.Global || engaged.Id == scope.Id);
#pragma warning restore CA1308

    /// <summary>The scope as people read it: <c>global</c>, <c>agent NAME</c>, <c>session ID</c>.</summary>
    private static string ScopeText(KillSwitchDto engaged) => engaged.Id is null ? engaged.Level : $"{engaged.Level} {engaged.Id}";
}

/// <summary>One engaged kill switch, as <c>apiary kill status --json</c> prints it.</summary>
internal sealed record KillSwitchJson(string Level, string? Id, string Reason, string EngagedBy, DateTimeOffset EngagedAt);

/// <summary>What <c>apiary kill status --json</c> prints.</summary>
internal sealed record KillStatusJson(string Home, IReadOnlyList<KillSwitchJson> Engaged);
