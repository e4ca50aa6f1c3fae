using System.Net;
using Apiary.Agents;
using Apiary.Text;
using Spectre.Console;
using Apiary.Configuration;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary agents</c>: list, show and create the agents of a home through its running server, and compose their
/// prompts (from the files, with or without a server).
/// </summary>
internal static class AgentsCommand
{
    public static Command Create(CliContext context) => new("agents", "List, inspect and create agents (folders of Markdown files under agents/ in the home).")
    {
        List(context),
        Show(context),
        AgentsStatsCommand.Create(context),
        New(context),
        Prompt(context),
    };

    private static Command List(CliContext context)
    {
        var json = CommonOptions.Json();
        var command = new Command("list", "List the agents with their role, model, template and the state of their files, as the running server reads them. Problems are printed on stderr.")
        {
            json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            var listing = await client.ListAgentsWithFindingsAsync(cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                var agents = listing.Agents.Select(Summary).ToList();
                await JsonOutput.WriteAsync(context.Out, new AgentListJson(home.Root, agents, listing.Findings.Select(ToJson).ToList()), CliJsonContext.Default.AgentListJson).ConfigureAwait(false);
            }
            else if (listing.Agents.Count == 0)
            {
                await context.Out.WriteLineAsync($"No agents in {home.AgentsDirectory}. Create one with 'apiary agents new NAME'.").ConfigureAwait(false);
            }
            else
            {
                var table = new Table().Border(TableBorder.None).AddColumns("NAME", "ROLE", "STATE", "MODEL", "TEMPLATE", "FILES", "STATUS");
                table.Columns[0].PadLeft(0);
                foreach (var agent in listing.Agents)
                {
                    var readable = agent.Files is not null;
                    table.AddRow(
                        Cell(agent.Name),
                        Cell(readable ? agent.Role : "-"),
                        Cell(agent.State ?? "-"),
                        Cell(readable ? agent.Model ?? "-" : "-"),
                        Cell(agent.Template ?? "-"),
                        Cell(Files(agent)),
                        Cell(Status(agent)));
                }

                context.CreateTableConsole().Write(table);

                // Why an agent's last run did not finish, and whether it is restarted: a reason is too long for a column.
                foreach (var agent in listing.Agents.Where(a => a.LastFailure is not null))
                {
                    await context.Out.WriteLineAsync(FailureLine(agent.Name, agent.LastFailure!)).ConfigureAwait(false);
                }
            }

            await ReportAsync(context, listing.Findings.Concat(listing.Agents.SelectMany(a => a.Findings ?? []))).ConfigureAwait(false);
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
        var command = new Command("show", "Show an agent's effective settings, where each came from (command line, frontmatter, home config, default), its workspace and files, as the running server reads them.")
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

            var agentName = CommonOptions.ParseName(parse.GetValue(name)!);
            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            AgentDetailDto detail;
            try
            {
                detail = await client.GetAgentAsync(agentName.Value, overrides.Model, overrides.ToolProfile, overrides.Template, overrides.Workspace, cancellationToken).ConfigureAwait(false);
            }
            catch (ApiaryClientException ex) when (ex.Status == HttpStatusCode.NotFound)
            {
                throw CliException.BadInput($"there is no agent named '{agentName}' in {home.AgentsDirectory}; 'apiary agents list' shows the agents, 'apiary agents new {agentName}' creates one");
            }
            catch (ApiaryClientException ex) when (ex.Status == HttpStatusCode.BadRequest)
            {
                throw CliException.BadInput(ex.Detail ?? ex.Message);
            }

            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(context.Out, Detail(detail), CliJsonContext.Default.AgentDetailJson).ConfigureAwait(false);
            }
            else if (detail.Settings is not null)
            {
                await WriteDetailAsync(context, detail).ConfigureAwait(false);
            }

            await ReportAsync(context, detail.Agent.Findings ?? []).ConfigureAwait(false);
            return detail.Settings is not null ? ExitCodes.Success : Unusable(context, agentName.Value);
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
        var command = new Command("new", "Create an agent folder with AGENTS.md, SOUL.md and BOOTSTRAP.md to edit, and its workspace, through the running server.")
        {
            name, role, description, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var agentName = CommonOptions.ParseName(parse.GetValue(name)!);
            var agentRole = parse.GetValue(role) == "manager" ? "manager" : "worker";
            var home = CommonOptions.LocateHome(parse, context);
            using var client = await CommonOptions.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
            AgentDetailDto detail;
            try
            {
                detail = await client.CreateAgentAsync(new CreateAgentRequest(agentName.Value, agentRole, parse.GetValue(description)), cancellationToken).ConfigureAwait(false);
            }
            catch (ApiaryClientException ex) when (ex.Status is HttpStatusCode.Conflict or HttpStatusCode.BadRequest)
            {
                throw CliException.BadInput(ex.Detail ?? ex.Message);
            }

            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(context.Out, Detail(detail), CliJsonContext.Default.AgentDetailJson).ConfigureAwait(false);
            }
            else
            {
                await context.Out.WriteLineAsync($"Created agent '{agentName}' ({agentRole}) in {detail.Directory}").ConfigureAwait(false);
                await context.Out.WriteLineAsync($"Edit its AGENTS.md and SOUL.md, then see its prompt with 'apiary agents prompt {agentName}'.").ConfigureAwait(false);
            }

            await ReportAsync(context, detail.Agent.Findings ?? []).ConfigureAwait(false);
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

    private static int Unusable(CliContext context, AgentEntry entry) => Unusable(context, entry.Name.Value);

    private static int Unusable(CliContext context, string name)
    {
        context.Error.WriteLine($"apiary: agent '{name}' cannot be used until the errors above are fixed");
        return ExitCodes.Failure;
    }

    private static async Task WriteDetailAsync(CliContext context, AgentDetailDto detail)
    {
        var s = detail.Settings!;
        var grid = new Table().Border(TableBorder.None).HideHeaders().AddColumns("field", "value", "source");
        grid.Columns[0].PadLeft(0);
        void Row(string field, string value, string source = "") => grid.AddRow(Cell(field), Cell(value), Cell(source));
        Row("name", detail.Agent.Name);
        Row("folder", detail.Directory);
        Row("description", detail.Agent.Description ?? "-");
        Row("role", s.Role.Value, Source(s.Role.Source));
        Row("model", s.Model.Value ?? "(not set)", Source(s.Model.Source));
        Row("tool_profile", s.ToolProfile.Value, Source(s.ToolProfile.Source));
        Row("template", s.Template.Value, Source(s.Template.Source));
        var workspace = detail.WorkspaceInfo!;
        Row("workspace", workspace.Path + (workspace.Exists ? "" : " (created on first use)"), Source(workspace.Source));
        Row("allowed_recipients", List(s.AllowedRecipients.Value), Source(s.AllowedRecipients.Source));
        Row("budget.commands", s.Budget.Commands.Value.ToString(CultureInfo.InvariantCulture), Source(s.Budget.Commands.Source));
        Row("budget.wall_time", s.Budget.WallTime.Value, Source(s.Budget.WallTime.Source));
        Row("budget.tokens", s.Budget.Tokens.Value.ToString(CultureInfo.InvariantCulture), Source(s.Budget.Tokens.Source));
        Row("budget.cost_usd", s.Budget.CostUsd.Value.ToString("0.00", CultureInfo.InvariantCulture), Source(s.Budget.CostUsd.Source));
        Row("bootstrap", detail.Bootstrap is { Consumed: true } b ? $"consumed by session {b.SessionId} at {b.CompletedAt:u}" : "BOOTSTRAP.md is injected until the first completed session");
        foreach (var file in detail.Agent.Files ?? [])
        {
            Row(file.Name, file.Exists ? $"{file.Bytes} bytes" : "missing");
        }

        context.CreateTableConsole().Write(grid);
        await Task.CompletedTask.ConfigureAwait(false);
    }

    private static AgentSummaryJson Summary(AgentDto agent)
    {
        var readable = agent.Files is not null;
        return new AgentSummaryJson(
            agent.Name,
            agent.Directory ?? "",
            StatusWord(agent),
            agent.Description,
            readable ? agent.Role : null,
            agent.Model,
            agent.ToolProfile,
            agent.Template,
            agent.Files?.Where(f => f.Exists).Select(f => f.Name).ToList() ?? [],
            (agent.Findings ?? []).Select(ToJson).ToList(),
            agent.State,
            agent.LastFailure is { } f ? new AgentFailureJson(f.Run, f.Session, f.Status, f.Reason, f.At, f.Crashed, f.Restart) : null);
    }

    /// <summary>One line for an agent's last run that did not finish: <c>coder: last run 5d1e2f3a failed at ...: WHY; not restarted: ...</c>.</summary>
    private static string FailureLine(string agent, AgentFailureDto f) =>
        $"{agent}: last run {f.Run[..Math.Min(8, f.Run.Length)]} {f.Status.Replace('_', ' ')} at {f.At.ToString("u", CultureInfo.InvariantCulture)}: {f.Reason}; {f.Restart}";

    private static AgentDetailJson Detail(AgentDetailDto detail)
    {
        var agent = detail.Agent;
        var errors = (agent.Findings ?? []).Select(ToJson).ToList();
        if (detail.Settings is not { } s || detail.WorkspaceInfo is not { } workspace || detail.Bootstrap is not { } bootstrap)
        {
            var missing = new SettingJson<string>("", "");
            return new AgentDetailJson(
                agent.Name, detail.Directory, StatusWord(agent), null, missing, new SettingJson<string?>(null, ""), missing, missing,
                new WorkspaceJson("", false, false, ""), new SettingJson<IReadOnlyList<string>>([], ""),
                new BudgetJson(new(0, ""), new("", ""), new(0, ""), new(0, "")), new BootstrapJson(false, null, null), [], errors);
        }

        return new AgentDetailJson(
            agent.Name,
            detail.Directory,
            StatusWord(agent),
            agent.Description,
            Json(s.Role),
            Json(s.Model),
            Json(s.ToolProfile),
            Json(s.Template),
            new WorkspaceJson(workspace.Path, workspace.IsDefault, workspace.Exists, workspace.Source),
            Json(s.AllowedRecipients),
            new BudgetJson(Json(s.Budget.Commands), Json(s.Budget.WallTime), Json(s.Budget.Tokens), Json(s.Budget.CostUsd)),
            new BootstrapJson(bootstrap.Consumed, bootstrap.SessionId, bootstrap.CompletedAt),
            (agent.Files ?? []).Select(f => new FileJson(f.Name, f.Exists, f.Bytes)).ToList(),
            errors);
    }

    private static SettingJson<T> Json<T>(SettingDto<T> setting) => new(setting.Value, setting.Source);

    private static DiagnosticJson ToJson(DiagnosticDto d) => new(d.Severity, d.Message, d.File, d.Line, d.Column);

    /// <summary>Prints findings as <c>apiary</c> prints every finding about a file: <c>FILE:LINE:COLUMN: error: MESSAGE</c>.</summary>
    private static Task ReportAsync(CliContext context, IEnumerable<DiagnosticDto> findings) =>
        CommonOptions.ReportAsync(context, findings.Select(d => new Diagnostic(
            d.Severity == "error" ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning, d.Message, d.File, d.Line, d.Column)));

    private static int Errors(AgentDto agent) => (agent.Findings ?? []).Count(d => d.Severity == "error");

    /// <summary>An agent whose definition cannot be read (no files listed) is an error; one with warnings, a warning.</summary>
    private static string StatusWord(AgentDto agent) =>
        agent.Files is null ? "error" : (agent.Findings ?? []).Any(d => d.Severity == "warning") ? "warning" : "ok";

    private static string Status(AgentDto agent)
    {
        var errors = Errors(agent);
        var warnings = (agent.Findings ?? []).Count - errors;
        return errors > 0 ? $"error ({errors})" : warnings > 0 ? $"ok, {warnings} warning(s)" : "ok";
    }

    private static string Files(AgentDto agent)
    {
        if (agent.Files is not { } files)
        {
            return "-";
        }

        var present = files.Where(f => f.Exists).Select(f => Path.GetFileNameWithoutExtension(f.Name));
        return $"{files.Count(f => f.Exists)}/{files.Count} ({string.Join(' ', present)})";
    }

    private static string List(IReadOnlyList<string> values) => values.Count == 0 ? "(none)" : string.Join(", ", values);

    private static string Source(string source) => source switch
    {
        "command_line" => "(command line)",
        "frontmatter" => "(frontmatter)",
        "home_config" => "(apiary.yaml)",
        _ => "(default)",
    };

    private static Markup Cell(string text) => new(Markup.Escape(text));
}
