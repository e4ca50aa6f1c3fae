using Apiary.Agents;

namespace Apiary.Cli.Commands;

/// <summary><c>apiary init</c>: creates a home with sample agents, templates and policies.</summary>
internal static class InitCommand
{
    public static Command Create(CliContext context)
    {
        var json = CommonOptions.Json();
        var command = new Command("init", "Create an Apiary home with agents/, templates/, policies/, apiary.yaml and two sample agents (a manager and a coder). Existing files are kept.")
        {
            json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            var files = await home.InitializeAsync(cancellationToken).ConfigureAwait(false);
            foreach (var folder in Directory.EnumerateDirectories(home.AgentsDirectory))
            {
                if (AgentName.TryCreate(Path.GetFileName(folder), out _, out _))
                {
                    WorkspaceGuard.EnsureDefault(folder);
                }
            }

            var created = files.Where(f => f.Created).Select(f => f.Path).ToList();
            var kept = files.Where(f => !f.Created).Select(f => f.Path).ToList();
            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(context.Out, new InitJson(home.Root, created, kept), CliJsonContext.Default.InitJson).ConfigureAwait(false);
                return ExitCodes.Success;
            }

            var verb = created.Count == 0 ? "Apiary home is already set up at" : kept.Count == 0 ? "Created an Apiary home at" : "Completed the Apiary home at";
            await context.Out.WriteLineAsync($"{verb} {home.Root}").ConfigureAwait(false);
            foreach (var file in created)
            {
                await context.Out.WriteLineAsync($"  created  {file}").ConfigureAwait(false);
            }

            if (kept.Count > 0)
            {
                await context.Out.WriteLineAsync($"  kept     {kept.Count} existing file(s) unchanged").ConfigureAwait(false);
            }

            var homeArg = home.Source == Home.HomeSource.Option ? $" --home {home.Root}" : "";
            // The first command named must work right after init: 'agents list' and the other clients need a running server.
            await context.Out.WriteLineAsync(
                $"Next: 'apiary up{homeArg}' starts the server, then 'apiary agents list{homeArg}' in another terminal shows the agents; " +
                $"without a server, 'apiary agents prompt coder{homeArg}' shows a composed prompt.").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }
}
