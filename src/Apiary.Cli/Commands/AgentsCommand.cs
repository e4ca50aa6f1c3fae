using System.CommandLine;
using System.Globalization;
using Apiary.Agents;
using Apiary.Cli.Output;
using Apiary.Text;
using Spectre.Console;

namespace Apiary.Cli.Commands;

/// <summary><c>apiary agents</c>: list, show, create and compose the prompts of the agents in a home.</summary>
internal static class AgentsCommand
{
    public static Command Create(CliContext context) => new("agents", "List, inspect and create agents (folders of Markdown files under agents/ in the home).")
    {
        List(context),
        Show(context),
        New(context),
        Prompt(context),
    };

    private static Command List(CliContext context)
    {
        var json = CommonOptions.Json();
        var command = new Command("list", "List the agents with their role, model, template and the state of their files. Problems are printed on stderr.")
        {
            json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var catalog = await CommonOptions.OpenCatalogAsync(parse, context, cancellationToken).ConfigureAwait(false);
            var listing = await catalog.ListAsync(cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                var agents = listing.Agents.Select(Summary).ToList();
                await JsonOutput.WriteAsync(context.Out, new AgentListJson(catalog.Home.Root, agents, listing.Diagnostics.Select(JsonOutput.ToJson).ToList()), CliJsonContext.Default.AgentListJson).ConfigureAwait(false);
            }
            else if (listing.Agents.Count == 0)
            {
                await context.Out.WriteLineAsync($"No agents in {catalog.Home.AgentsDirectory}. Create one with 'apiary agents new NAME'.").ConfigureAwait(false);
            }
            else
            {
                var table = new Table().Border(TableBorder.None).AddColumns("NAME", "ROLE", "MODEL", "TEMPLATE", "FILES", "STATUS");
                table.Columns[0].PadLeft(0);
                foreach (var entry in listing.Agents)
                {
                    var settings = entry.Definition?.Settings;
                    table.AddRow(
                        Cell(entry.Name.Value),
                        Cell(settings is null ? "-" : JsonOutput.Text(settings.Role.Value)),
                        Cell(settings?.Model.Value ?? "-"),
                        Cell(settings?.Template.Value ?? "-"),
                        Cell(Files(entry)),
                        Cell(Status(entry)));
                }

                context.CreateTableConsole().Write(table);
            }

            await CommonOptions.ReportAsync(context, listing.Diagnostics.Concat(listing.Agents.SelectMany(a => a.Diagnostics))).ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Show(CliContext context)
    {
        var name = new Argument<string>("name") { Description = "The agent's name (its folder under agents/)." };
        var json = CommonOptions.Json();
        var model = new Option<string?>("--model") { Description = "Show the settings as they would be with this model (endpoint/model).", HelpName = "ENDPOINT/MODEL" };
        var toolProfile = new Option<string?>("--tool-profile") { Description = "Show the settings with this tool profile.", HelpName = "PROFILE" };
        var template = new Option<string?>("--template") { Description = "Show the settings with this sandbox template.", HelpName = "TEMPLATE" };
        var workspace = new Option<string?>("--workspace") { Description = "Show the settings with this workspace folder (absolute or ~/...).", HelpName = "DIR" };
        var command = new Command("show", "Show an agent's effective settings, where each came from (command line, frontmatter, home config, default), its workspace and files.")
        {
            name, json, model, toolProfile, template, workspace,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var overrides = new AgentOverrides
            {
                Model = parse.GetValue(model),
                ToolProfile = parse.GetValue(toolProfile),
                Template = parse.GetValue(template),
                Workspace = parse.GetValue(workspace),
            };
            if (SettingRules.Check(overrides) is [_, ..] errors)
            {
                throw CliException.BadInput(string.Join("; ", errors));
            }

            var catalog = await CommonOptions.OpenCatalogAsync(parse, context, cancellationToken).ConfigureAwait(false);
            var entry = await CommonOptions.LoadAgentAsync(catalog, parse.GetValue(name)!, overrides, cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(context.Out, Detail(entry), CliJsonContext.Default.AgentDetailJson).ConfigureAwait(false);
            }
            else if (entry.Definition is { } agent)
            {
                await WriteDetailAsync(context, agent).ConfigureAwait(false);
            }

            await CommonOptions.ReportAsync(context, entry.Diagnostics).ConfigureAwait(false);
            return entry.IsUsable ? ExitCodes.Success : Unusable(context, entry);
        });
        return command;
    }

    private static Command New(CliContext context)
    {
        var name = new Argument<string>("name") { Description = "The new agent's name: 1 to 64 of A-Z a-z 0-9 _ -, not starting with a dot." };
        var role = new Option<string>("--role") { Description = "The agent's role.", DefaultValueFactory = _ => "worker", HelpName = "ROLE" };
        role.AcceptOnlyFromAmong("worker", "manager");
        var description = new Option<string?>("--description") { Description = "One line on what the agent does.", HelpName = "TEXT" };
        var json = CommonOptions.Json();
        var command = new Command("new", "Create an agent folder with AGENTS.md, SOUL.md and BOOTSTRAP.md to edit, and its workspace.")
        {
            name, role, description, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var catalog = await CommonOptions.OpenCatalogAsync(parse, context, cancellationToken).ConfigureAwait(false);
            var agentName = CommonOptions.ParseName(parse.GetValue(name)!);
            var agentRole = parse.GetValue(role) == "manager" ? AgentRole.Manager : AgentRole.Worker;
            AgentEntry entry;
            try
            {
                entry = await catalog.CreateAsync(agentName, agentRole, parse.GetValue(description), cancellationToken).ConfigureAwait(false);
            }
            catch (AgentExistsException ex)
            {
                throw CliException.BadInput(ex.Message);
            }

            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(context.Out, Detail(entry), CliJsonContext.Default.AgentDetailJson).ConfigureAwait(false);
            }
            else
            {
                await context.Out.WriteLineAsync($"Created agent '{agentName}' ({JsonOutput.Text(agentRole)}) in {entry.Directory}").ConfigureAwait(false);
                await context.Out.WriteLineAsync($"Edit its AGENTS.md and SOUL.md, then see its prompt with 'apiary agents prompt {agentName}'.").ConfigureAwait(false);
            }

            await CommonOptions.ReportAsync(context, entry.Diagnostics).ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Prompt(CliContext context)
    {
        var name = new Argument<string>("name") { Description = "The agent's name." };
        var sectionChars = new Option<int?>("--section-chars") { Description = $"Cap on each section, in characters (default: the home's prompt.section_chars, else {PromptOptions.Default.SectionChars}).", HelpName = "N" };
        var totalChars = new Option<int?>("--total-chars") { Description = $"Cap on the whole prompt, in characters (default: the home's prompt.total_chars, else {PromptOptions.Default.TotalChars}).", HelpName = "N" };
        var json = CommonOptions.Json();
        var command = new Command("prompt", "Print the system prompt composed from the agent's files (SOUL, USER, AGENTS body, MEMORY, IDENTITY, TOOLS, BOOTSTRAP); what was skipped or truncated, and why, goes to stderr.")
        {
            name, sectionChars, totalChars, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            foreach (var cap in new[] { (sectionChars, parse.GetValue(sectionChars)), (totalChars, parse.GetValue(totalChars)) })
            {
                if (cap.Item2 is < PromptOptions.MinimumCap)
                {
                    throw CliException.BadInput($"{cap.Item1.Name} must be at least {PromptOptions.MinimumCap}, not {cap.Item2}");
                }
            }

            var catalog = await CommonOptions.OpenCatalogAsync(parse, context, cancellationToken).ConfigureAwait(false);

            var entry = await CommonOptions.LoadAgentAsync(catalog, parse.GetValue(name)!, AgentOverrides.None, cancellationToken).ConfigureAwait(false);
            if (entry.Definition is not { } agent)
            {
                if (parse.GetValue(json))
                {
                    await JsonOutput.WriteAsync(
                        context.Out,
                        new PromptJson(entry.Name.Value, "", 0, 0, 0, 0, [], entry.Diagnostics.Select(JsonOutput.ToJson).ToList()),
                        CliJsonContext.Default.PromptJson).ConfigureAwait(false);
                }

                await CommonOptions.ReportAsync(context, entry.Diagnostics).ConfigureAwait(false);
                return Unusable(context, entry);
            }

            var options = catalog.PromptOptionsFor(parse.GetValue(sectionChars), parse.GetValue(totalChars));
            var prompt = await catalog.ComposePromptAsync(agent, options, cancellationToken).ConfigureAwait(false);
            var diagnostics = entry.Diagnostics.Concat(prompt.Warnings).Distinct().ToList();
            if (parse.GetValue(json))
            {
                var sections = prompt.Sections.Select(s => new SectionJson(s.File, s.Status.ToString().ToLowerInvariant(), s.OriginalChars, s.IncludedChars, s.Reason)).ToList();
                await JsonOutput.WriteAsync(
                    context.Out,
                    new PromptJson(agent.Name.Value, prompt.Text, prompt.Text.Length, options.SectionChars, options.TotalChars, prompt.TotalOmittedChars, sections, diagnostics.Select(JsonOutput.ToJson).ToList()),
                    CliJsonContext.Default.PromptJson).ConfigureAwait(false);
                await CommonOptions.ReportAsync(context, diagnostics).ConfigureAwait(false);
                return ExitCodes.Success;
            }

            await context.Out.WriteLineAsync(prompt.Text).ConfigureAwait(false);
            await CommonOptions.ReportAsync(context, diagnostics).ConfigureAwait(false);
            foreach (var section in prompt.Sections.Where(s => s.Status != SectionStatus.Included))
            {
                var what = section.Status == SectionStatus.Truncated ? "truncated" : "skipped";
                await context.Error.WriteLineAsync($"{section.File}: {what}: {section.Reason}").ConfigureAwait(false);
            }

            if (prompt.TotalOmittedChars > 0)
            {
                await context.Error.WriteLineAsync($"prompt: truncated: over the total cap of {options.TotalChars} characters; {prompt.TotalOmittedChars} were cut from the middle").ConfigureAwait(false);
            }

            var included = prompt.Sections.Count(s => s.Status != SectionStatus.Skipped);
            await context.Error.WriteLineAsync($"prompt: {prompt.Text.Length} characters from {included} of {prompt.Sections.Count} files").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static int Unusable(CliContext context, AgentEntry entry)
    {
        context.Error.WriteLine($"apiary: agent '{entry.Name}' cannot be used until the errors above are fixed");
        return ExitCodes.Failure;
    }

    private static async Task WriteDetailAsync(CliContext context, AgentDefinition agent)
    {
        var s = agent.Settings;
        var grid = new Table().Border(TableBorder.None).HideHeaders().AddColumns("field", "value", "source");
        grid.Columns[0].PadLeft(0);
        void Row(string field, string value, string source = "") => grid.AddRow(Cell(field), Cell(value), Cell(source));
        Row("name", agent.Name.Value);
        Row("folder", agent.Directory);
        Row("description", agent.Manifest.Description ?? "-");
        Row("role", JsonOutput.Text(s.Role.Value), Source(s.Role.Source));
        Row("model", s.Model.Value ?? "(not set)", Source(s.Model.Source));
        Row("tool_profile", s.ToolProfile.Value, Source(s.ToolProfile.Source));
        Row("template", s.Template.Value, Source(s.Template.Source));
        Row("workspace", agent.Workspace.Path + (agent.Workspace.Exists ? "" : " (created on first use)"), Source(agent.Workspace.Source));
        Row("allowed_recipients", List(s.AllowedRecipients.Value), Source(s.AllowedRecipients.Source));
        Row("policies", List(s.Policies.Value), Source(s.Policies.Source));
        Row("budget.commands", s.Commands.Value.ToString(CultureInfo.InvariantCulture), Source(s.Commands.Source));
        Row("budget.wall_time", DurationText.Format(s.WallTime.Value), Source(s.WallTime.Source));
        Row("budget.tokens", s.Tokens.Value.ToString(CultureInfo.InvariantCulture), Source(s.Tokens.Source));
        Row("budget.cost_usd", s.CostUsd.Value.ToString("0.00", CultureInfo.InvariantCulture), Source(s.CostUsd.Source));
        Row("bootstrap", agent.Bootstrap is { } b ? $"consumed by session {b.SessionId} at {b.CompletedAt:u}" : "BOOTSTRAP.md is injected until the first completed session");
        foreach (var file in agent.Files)
        {
            Row(file.Name, file.Exists ? $"{file.Bytes} bytes" : "missing");
        }

        context.CreateTableConsole().Write(grid);
        await Task.CompletedTask.ConfigureAwait(false);
    }

    private static AgentSummaryJson Summary(AgentEntry entry)
    {
        var agent = entry.Definition;
        return new AgentSummaryJson(
            entry.Name.Value,
            entry.Directory,
            StatusWord(entry),
            agent?.Manifest.Description,
            agent is null ? null : JsonOutput.Text(agent.Settings.Role.Value),
            agent?.Settings.Model.Value,
            agent?.Settings.ToolProfile.Value,
            agent?.Settings.Template.Value,
            agent?.Files.Where(f => f.Exists).Select(f => f.Name).ToList() ?? [],
            entry.Diagnostics.Select(JsonOutput.ToJson).ToList());
    }

    private static AgentDetailJson Detail(AgentEntry entry)
    {
        var errors = entry.Diagnostics.Select(JsonOutput.ToJson).ToList();
        if (entry.Definition is not { } agent)
        {
            var missing = new SettingJson<string>("", "");
            return new AgentDetailJson(
                entry.Name.Value, entry.Directory, StatusWord(entry), null, missing, new SettingJson<string?>(null, ""), missing, missing,
                new WorkspaceJson("", false, false, ""), new SettingJson<IReadOnlyList<string>>([], ""), new SettingJson<IReadOnlyList<string>>([], ""),
                new BudgetJson(new(0, ""), new("", ""), new(0, ""), new(0, "")), new BootstrapJson(false, null, null), [], errors);
        }

        var s = agent.Settings;
        return new AgentDetailJson(
            agent.Name.Value,
            agent.Directory,
            StatusWord(entry),
            agent.Manifest.Description,
            Json(s.Role, JsonOutput.Text),
            new SettingJson<string?>(s.Model.Value, JsonOutput.Text(s.Model.Source)),
            Json(s.ToolProfile, v => v),
            Json(s.Template, v => v),
            new WorkspaceJson(agent.Workspace.Path, agent.Workspace.IsDefault, agent.Workspace.Exists, JsonOutput.Text(agent.Workspace.Source)),
            Json(s.AllowedRecipients, v => v),
            Json(s.Policies, v => v),
            new BudgetJson(Json(s.Commands, v => v), Json(s.WallTime, DurationText.Format), Json(s.Tokens, v => v), Json(s.CostUsd, v => v)),
            new BootstrapJson(agent.Bootstrap is not null, agent.Bootstrap?.SessionId, agent.Bootstrap?.CompletedAt),
            agent.Files.Select(f => new FileJson(f.Name, f.Exists, f.Bytes)).ToList(),
            errors);
    }

    private static SettingJson<TOut> Json<TIn, TOut>(Setting<TIn> setting, Func<TIn, TOut> map) => new(map(setting.Value), JsonOutput.Text(setting.Source));

    private static string StatusWord(AgentEntry entry) =>
        !entry.IsUsable ? "error" : entry.Warnings.Any() ? "warning" : "ok";

    private static string Status(AgentEntry entry)
    {
        var errors = entry.Errors.Count();
        var warnings = entry.Warnings.Count();
        return errors > 0 ? $"error ({errors})" : warnings > 0 ? $"ok, {warnings} warning(s)" : "ok";
    }

    private static string Files(AgentEntry entry)
    {
        var files = entry.Definition?.Files;
        if (files is null)
        {
            return "-";
        }

        var present = files.Where(f => f.Exists).Select(f => Path.GetFileNameWithoutExtension(f.Name));
        return $"{files.Count(f => f.Exists)}/{files.Count} ({string.Join(' ', present)})";
    }

    private static string List(IReadOnlyList<string> values) => values.Count == 0 ? "(none)" : string.Join(", ", values);

    private static string Source(SettingSource source) => source switch
    {
        SettingSource.CommandLine => "(command line)",
        SettingSource.Frontmatter => "(frontmatter)",
        SettingSource.HomeConfig => "(apiary.yaml)",
        _ => "(default)",
    };

    private static Markup Cell(string text) => new(Markup.Escape(text));
}
