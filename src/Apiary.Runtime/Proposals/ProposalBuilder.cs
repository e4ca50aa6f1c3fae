using Apiary.Governance.Budgets;
using Apiary.Sandbox;
using Apiary.Text;

namespace Apiary.Runtime;

/// <summary>
/// Turns a caller's request (from the API, <c>apiary mcp</c>, the model loop or the dashboard) into the proposal that
/// governance decides and the executor runs, and nothing else: every value is checked where it enters (a NUL, a
/// control character or a lone surrogate in anything that reaches a process is refused, naming the field), the program
/// is resolved inside the sandbox's view with the template's search path, and everything that changes what runs (the
/// environment, secret names, standard input, working folder, template and time limit) becomes part of the proposal and
/// its hash. A request it cannot turn into a proposal is a 400 problem that says what to fix.
/// </summary>
internal static class ProposalBuilder
{
    /// <summary>The longest time limit a command may ask for at all (a policy may allow up to this much).</summary>
    private static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    public static (Proposal Proposal, BudgetEstimate Estimate) Build(ApiSession session, ProposalRequest request)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(request);
        var principal = session.Principal;
        var workspace = session.Workspace;
        switch (request.Kind)
        {
            case "exec":
                return Exec(session, request);
            case "read_file":
                return (Proposal.ReadFile(principal, workspace, Path(request.Path, required: true)!), Nothing);
            case "write_file":
                var write = new ProposalArguments { Path = Path(request.Path, required: true), Content = request.Content ?? throw Bad("content", "is required for write_file (the whole new content)") };
                return (Proposal.Create(principal, ProposalKind.WriteFile, workspace, write), Nothing);
            case "list_dir":
                return (Proposal.ListDir(principal, workspace, Path(request.Path, required: false) ?? "."), Nothing);
            default:
                throw new RequestRefusedException(Refusal.Invalid, "Unknown kind", $"kind '{request.Kind}' is not one of exec, read_file, write_file, list_dir");
        }
    }

    private static BudgetEstimate Nothing => new(0, TimeSpan.Zero, 0, 0m);

    private static (Proposal, BudgetEstimate) Exec(ApiSession session, ProposalRequest request)
    {
        var template = session.Template;
        var command = Checked("command", request.Command ?? throw Bad("command", "is required for exec"), lineBreaks: false);
        if (command.Trim().Length == 0)
        {
            throw Bad("command", "is empty");
        }

        var args = request.Args ?? [];
        for (var i = 0; i < args.Count; i++)
        {
            Checked($"args[{i}]", args[i] ?? throw Bad($"args[{i}]", "is null"), lineBreaks: true);
        }

        var env = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in request.Env ?? new Dictionary<string, string>())
        {
            if (!IsEnvName(name))
            {
                throw new RequestRefusedException(Refusal.Invalid, "Invalid env", $"env name '{Printable(name)}' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
            }

            env[name] = Checked($"env {name}", value ?? throw Bad($"env {name}", "is null"), lineBreaks: true);
        }

        var workdir = request.Workdir is { } given ? Workdir(given) : null;
        var secrets = new List<string>();
        foreach (var name in request.Secrets ?? [])
        {
            Checked("secrets", name ?? throw Bad("secrets", "holds a null name"), lineBreaks: false);
            if (template.Secrets.All(s => s.Name != name))
            {
                throw new RequestRefusedException(Refusal.Invalid, "Secret not declared",
                    $"the secret '{name}' is not declared by the sandbox template '{template.Name}', so this session may not use it; add it to templates/{template.Name}.yaml 'secrets' to let its commands ask for it");
            }

            if (!secrets.Contains(name, StringComparer.Ordinal))
            {
                secrets.Add(name);
            }
        }

        if (env.Keys.FirstOrDefault(name => secrets.Contains(name, StringComparer.Ordinal)) is { } clash)
        {
            throw Bad($"env {clash}", "names a secret the command is also given; a secret's value comes only from the secret store");
        }

        var templateSeconds = (int)Math.Ceiling(template.Timeout.TotalSeconds);
        var seconds = request.TimeoutSeconds ?? templateSeconds;
        if (seconds <= 0 || seconds > MaxTimeout.TotalSeconds)
        {
            throw Bad("timeout_seconds", $"must be from 1 to {MaxTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}");
        }

        // A name found nowhere is still proposed (a policy may deny or steer it, and the record shows the attempt); if it
        // is allowed, the executor answers "not found" instead of searching for it.
        var program = session.Sandbox.ResolveProgram(command, workdir ?? "", env.GetValueOrDefault("PATH"));
        var arguments = new ProposalArguments
        {
            Command = command,
            Program = program,
            Args = args,
            Env = env,
            Secrets = secrets,
            Stdin = request.Stdin,
            Workdir = workdir,
            Template = template.Name,
            TimeoutSeconds = seconds,
            TemplateTimeoutSeconds = templateSeconds,
        };
        var proposal = Proposal.Create(session.Principal, ProposalKind.Exec, session.Workspace, arguments);
        return (proposal, new BudgetEstimate(1, TimeSpan.FromSeconds(seconds), 0, 0m));
    }

    /// <summary>A working folder: relative to the workspace, checked, normalized; one that leaves the workspace is refused.</summary>
    private static string? Workdir(string given)
    {
        Checked("workdir", given, lineBreaks: false);
        var relative = given.StartsWith("/workspace/", StringComparison.Ordinal) || given == "/workspace" ? given["/workspace".Length..] : given;
        if (relative.StartsWith('/'))
        {
            throw Bad("workdir", $"'{given}' must be relative to the workspace (or under /workspace)");
        }

        var normal = Proposal.NormalizePath("/w/" + relative);
        if (normal != "/w" && !normal.StartsWith("/w/", StringComparison.Ordinal))
        {
            throw Bad("workdir", $"'{given}' leaves the workspace");
        }

        return normal == "/w" ? null : normal[3..];
    }

    private static string? Path(string? path, bool required)
    {
        if (path is null)
        {
            return required ? throw Bad("path", "is required") : null;
        }

        return Checked("path", path, lineBreaks: false);
    }

    private static string Checked(string field, string value, bool lineBreaks) =>
        ProcessText.Problem(value, lineBreaks) is { } problem ? throw Bad(field, problem) : value;

    private static RequestRefusedException Bad(string field, string problem) => new(Refusal.Invalid, "Invalid " + field.Split(' ', '[')[0], $"{field} {problem}");

    private static bool IsEnvName(string name) =>
        name.Length is > 0 and <= 256 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static string Printable(string text) => string.Concat(text.Select(c => char.IsControl(c) || char.IsSurrogate(c) ? '?' : c));
}
