using Apiary.Sandbox.Probe;
using Spectre.Console;

namespace Apiary.Cli.Commands;

/// <summary><c>apiary doctor</c>: what isolation this machine gives, what each missing piece means, and how to fix it.</summary>
internal static class DoctorCommand
{
    public static Command Create(CliContext context)
    {
        var json = CommonOptions.Json();
        var command = new Command("doctor", "Check what this machine gives sandboxes (bubblewrap, namespaces, cgroups, rlimits, openat2) and how to fix what is missing. Exit 1 when sandboxes cannot run.")
        {
            json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            var report = await CapabilityProbe.RunAsync(cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                var checks = report.Checks.Select(c => new CheckJson(c.Name, c.Status.ToString().ToLowerInvariant(), c.Detail, c.Meaning, c.Fix)).ToList();
                await JsonOutput.WriteAsync(context.Out, new DoctorJson(home.Root, home.Exists, report.SandboxUsable, checks), CliJsonContext.Default.DoctorJson).ConfigureAwait(false);
                return report.SandboxUsable ? ExitCodes.Success : ExitCodes.Failure;
            }

            await context.Out.WriteLineAsync($"home: {home.Root} ({CommonOptions.Describe(home.Source)}){(home.Exists ? "" : ", not created yet: run 'apiary init'")}").ConfigureAwait(false);
            var table = new Table().Border(TableBorder.None).AddColumns("CHECK", "STATUS", "DETAIL");
            table.Columns[0].PadLeft(0);
            foreach (var check in report.Checks)
            {
                table.AddRow(Cell(check.Name), Cell(check.Status.ToString().ToLowerInvariant()), Cell(check.Detail));
            }

            context.CreateTableConsole().Write(table);
            foreach (var check in report.Checks.Where(c => c.Status != CheckStatus.Ok))
            {
                await context.Out.WriteLineAsync($"{check.Name}: {check.Meaning}. Fix: {check.Fix}.").ConfigureAwait(false);
            }

            await context.Out.WriteLineAsync(report.SandboxUsable
                ? "Sandboxes can run on this machine."
                : "Sandboxes cannot run on this machine until the missing pieces above are fixed; 'apiary exec --unconfined' runs commands without one, for development only.").ConfigureAwait(false);
            return report.SandboxUsable ? ExitCodes.Success : ExitCodes.Failure;
        });
        return command;
    }

    private static Markup Cell(string text) => new(Markup.Escape(text));
}
