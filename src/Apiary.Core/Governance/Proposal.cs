using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Apiary.Governance;

/// <summary>
/// The arguments of a <see cref="Proposal"/>. Which fields a kind uses: <c>exec</c> a <see cref="Command"/> resolved
/// to its <see cref="Program"/>, its <see cref="Args"/>, and everything else that changes what runs
/// (<see cref="Env"/>, <see cref="Secrets"/>, <see cref="Stdin"/>, <see cref="Workdir"/>, <see cref="Template"/>,
/// <see cref="TimeoutSeconds"/>); <c>read_file</c>, <c>write_file</c> (with its <see cref="Content"/>) and
/// <c>list_dir</c> a <see cref="Path"/>; <c>send_message</c> its <see cref="Recipients"/>. Anything else (a URL, an MCP
/// tool name) goes into <see cref="Other"/>. Every field is part of the canonical hash, so an approval binds all of it,
/// and the executor runs what these fields say and nothing else.
/// </summary>
public sealed record ProposalArguments
{
    /// <summary>The program to run, as given (<c>ls</c>, <c>/usr/bin/git</c>, <c>./build.sh</c>).</summary>
    public string? Command { get; init; }

    /// <summary>
    /// For <c>exec</c>: <see cref="Command"/> resolved to an absolute path inside the sandbox's view, with the
    /// template's <c>PATH</c>, before the decision. Policies match it, and the sandbox runs exactly it.
    /// </summary>
    public string? Program { get; init; }

    /// <summary>For <c>exec</c>: environment variables the proposal sets (on top of the template's); never secret values.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>For <c>exec</c>: the names of the secrets the command is given (each declared by the template).</summary>
    public IReadOnlyList<string> Secrets { get; init; } = [];

    /// <summary>For <c>exec</c>: the text given to the program on standard input.</summary>
    public string? Stdin { get; init; }

    /// <summary>For <c>exec</c>: the working folder, relative to the workspace; null for the workspace itself.</summary>
    public string? Workdir { get; init; }

    /// <summary>For <c>exec</c>: the sandbox template the command runs with.</summary>
    public string? Template { get; init; }

    /// <summary>For <c>exec</c>: the command's wall-clock limit in seconds.</summary>
    public int? TimeoutSeconds { get; init; }

    /// <summary>For <c>exec</c>: the template's own limit, which <see cref="TimeoutSeconds"/> may exceed only where a rule allows it.</summary>
    public int? TemplateTimeoutSeconds { get; init; }

    /// <summary>For <c>write_file</c>: the whole new content.</summary>
    public string? Content { get; init; }

    /// <summary>The program's arguments, without the program itself.</summary>
    public IReadOnlyList<string> Args { get; init; } = [];

    /// <summary>The file or folder, absolute or relative to the workspace.</summary>
    public string? Path { get; init; }

    /// <summary>The agents (or <c>operator</c>) a message goes to.</summary>
    public IReadOnlyList<string> Recipients { get; init; } = [];

    /// <summary>Further named arguments; their order does not matter.</summary>
    public IReadOnlyDictionary<string, string> Other { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// An intended side effect, proposed by a <see cref="Governance.Principal"/> and not yet decided. It has no risk
/// level: risk comes from the policy, never from the proposer. <see cref="Hash"/> binds an approval to these exact
/// arguments.
/// </summary>
public sealed class Proposal
{
    // Programs in these folders are the same program as their bare name: '/usr/bin/rm' is 'rm' to a policy.
    private static readonly string[] SystemBinFolders = ["/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"];

    private Proposal(ProposalId id, Principal principal, ProposalKind kind, string workspace, ProposalArguments arguments)
    {
        Id = id;
        Principal = principal;
        Kind = kind;
        Workspace = NormalizeAbsolute(workspace);
        Arguments = arguments;
        ProgramName = (arguments.Program ?? arguments.Command) is { } command ? ProgramNameOf(command) : null;
        ArgumentLine = JoinArguments(arguments.Args);
        if (arguments.Path is { } path)
        {
            FullPath = NormalizeAbsolute(System.IO.Path.IsPathRooted(path) ? path : Workspace + "/" + path);
            WorkspacePath = FullPath == Workspace ? ""
                : Workspace == "/" ? FullPath[1..]
                : FullPath.StartsWith(Workspace + "/", StringComparison.Ordinal) ? FullPath[(Workspace.Length + 1)..]
                : null;
        }

        if (kind == ProposalKind.Exec)
        {
            var workdir = NormalizeAbsolute(Workspace + "/" + (arguments.Workdir ?? ""));
            WorkdirPath = workdir == Workspace ? ""
                : workdir.StartsWith(Workspace + "/", StringComparison.Ordinal) ? workdir[(Workspace.Length + 1)..]
                : null;
        }

        Hash = CanonicalHash(principal, kind, Workspace, arguments);
    }

    /// <summary>For <c>exec</c>: the working folder relative to the workspace (<c>""</c> for the workspace itself); null when it leaves it.</summary>
    public string? WorkdirPath { get; }

    /// <summary>The proposal's identity.</summary>
    public ProposalId Id { get; }

    /// <summary>Who proposes it.</summary>
    public Principal Principal { get; }

    /// <summary>What kind of side effect it is.</summary>
    public ProposalKind Kind { get; }

    /// <summary>The absolute path of the proposer's workspace, normalized.</summary>
    public string Workspace { get; }

    /// <summary>The arguments, as given.</summary>
    public ProposalArguments Arguments { get; }

    /// <summary>
    /// Lowercase hex SHA-256 of the canonical JSON of kind, principal, workspace and arguments (keys in ordinal order,
    /// no whitespace). Equal for equal arguments whatever the order of <see cref="ProposalArguments.Other"/>.
    /// </summary>
    public string Hash { get; }

    /// <summary>
    /// The program name policies match: the bare name for programs in the system folders, else the absolute path. For a
    /// resolved <c>exec</c> it comes from <see cref="ProposalArguments.Program"/>, never from the command as given.
    /// </summary>
    public string? ProgramName { get; }

    /// <summary>The arguments joined by single spaces, each one that is empty or holds a space or quote in single quotes.</summary>
    public string ArgumentLine { get; }

    /// <summary>
    /// What the proposal asks for, in one line for people: the program (as resolved) and its arguments, else the path,
    /// else the recipients, else the agent or model a control-plane proposal names. <see cref="ProposalDetails"/> has the rest of what an approver must see.
    /// </summary>
    public string CommandLine =>
        (Arguments.Program ?? Arguments.Command) is { } program
            ? (ArgumentLine.Length == 0 ? program : program + " " + ArgumentLine)
            : Arguments.Path
                ?? (Arguments.Recipients.Count > 0 ? string.Join(", ", Arguments.Recipients)
                : Arguments.Other.GetValueOrDefault("agent") ?? Arguments.Other.GetValueOrDefault("model") ?? "");

    /// <summary>The absolute path the proposal touches, with <c>.</c> and <c>..</c> resolved lexically; null without a path.</summary>
    public string? FullPath { get; }

    /// <summary>The path relative to the workspace (<c>""</c> for the workspace itself); null when it is outside or absent.</summary>
    public string? WorkspacePath { get; }

    /// <summary>Creates a proposal of any kind.</summary>
    /// <exception cref="ArgumentException">The workspace is not absolute, or the kind misses the argument it needs.</exception>
    public static Proposal Create(Principal principal, ProposalKind kind, string workspace, ProposalArguments arguments, ProposalId? id = null)
    {
        ArgumentNullException.ThrowIfNull(principal);
        ArgumentNullException.ThrowIfNull(arguments);
        ArgumentException.ThrowIfNullOrEmpty(workspace);
        if (!workspace.StartsWith('/'))
        {
            throw new ArgumentException($"the workspace '{workspace}' must be an absolute path", nameof(workspace));
        }

        switch (kind)
        {
            case ProposalKind.Exec when string.IsNullOrEmpty(arguments.Command):
                throw new ArgumentException("an exec proposal needs a command", nameof(arguments));
            case ProposalKind.Exec when arguments.Program is { } resolved && !resolved.StartsWith('/'):
                throw new ArgumentException($"an exec proposal's program must be an absolute path, not '{resolved}'", nameof(arguments));
            case ProposalKind.ReadFile or ProposalKind.WriteFile or ProposalKind.ListDir when string.IsNullOrEmpty(arguments.Path):
                throw new ArgumentException($"a {kind.Name()} proposal needs a path", nameof(arguments));
            case ProposalKind.SendMessage when arguments.Recipients.Count == 0:
                throw new ArgumentException("a send_message proposal needs at least one recipient", nameof(arguments));
            default:
                break;
        }

        return new Proposal(id ?? ProposalId.New(), principal, kind, workspace, arguments);
    }

    /// <summary>A proposal to run <paramref name="command"/> with <paramref name="args"/>.</summary>
    public static Proposal Exec(Principal principal, string workspace, string command, params IReadOnlyList<string> args) =>
        Create(principal, ProposalKind.Exec, workspace, new ProposalArguments { Command = command, Args = args });

    /// <summary>A proposal to read the file at <paramref name="path"/>.</summary>
    public static Proposal ReadFile(Principal principal, string workspace, string path) =>
        Create(principal, ProposalKind.ReadFile, workspace, new ProposalArguments { Path = path });

    /// <summary>A proposal to write the file at <paramref name="path"/>.</summary>
    public static Proposal WriteFile(Principal principal, string workspace, string path) =>
        Create(principal, ProposalKind.WriteFile, workspace, new ProposalArguments { Path = path });

    /// <summary>A proposal to list the folder at <paramref name="path"/>.</summary>
    public static Proposal ListDir(Principal principal, string workspace, string path) =>
        Create(principal, ProposalKind.ListDir, workspace, new ProposalArguments { Path = path });

    /// <summary>A proposal to send a message to <paramref name="recipients"/>.</summary>
    public static Proposal SendMessage(Principal principal, string workspace, params IReadOnlyList<string> recipients) =>
        Create(principal, ProposalKind.SendMessage, workspace, new ProposalArguments { Recipients = recipients });

    /// <summary>
    /// Normalizes an absolute path lexically: repeated and trailing slashes dropped, <c>.</c> removed, <c>..</c> taken
    /// back one folder (never above the root). Symbolic links are not followed: the sandbox's mounts decide those.
    /// </summary>
    /// <param name="path">An absolute path.</param>
    public static string NormalizePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return NormalizeAbsolute(path);
    }

    internal static string NormalizeAbsolute(string path)
    {
        var parts = new List<string>();
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == "..")
            {
                if (parts.Count > 0)
                {
                    parts.RemoveAt(parts.Count - 1);
                }
            }
            else if (part != ".")
            {
                parts.Add(part);
            }
        }

        return "/" + string.Join('/', parts);
    }

    internal static string ProgramNameOf(string command)
    {
        if (!command.Contains('/', StringComparison.Ordinal))
        {
            return command;
        }

        if (!command.StartsWith('/'))
        {
            return command;
        }

        var normal = NormalizeAbsolute(command);
        var slash = normal.LastIndexOf('/');
        return slash > 0 && Array.IndexOf(SystemBinFolders, normal[..slash]) >= 0 ? normal[(slash + 1)..] : normal;
    }

    internal static string JoinArguments(IReadOnlyList<string> args)
    {
        var line = new StringBuilder();
        for (var i = 0; i < args.Count; i++)
        {
            if (i > 0)
            {
                line.Append(' ');
            }

            var arg = args[i];
            if (arg.Length > 0 && !arg.Any(c => char.IsWhiteSpace(c) || Hidden(c) || c is '\'' or '"' or '\\'))
            {
                line.Append(arg);
            }
            else if (arg.Any(Hidden))
            {
                // A line break or carriage return must not let an argument hide what follows it (from a person reading
                // the line in a terminal, or from a policy pattern anchored at its end): shell's $'...' spells them out.
                line.Append("$'");
                foreach (var c in arg)
                {
                    line.Append(c switch
                    {
                        '\n' => "\\n",
                        '\r' => "\\r",
                        '\t' => "\\t",
                        '\'' => "\\'",
                        '\\' => "\\\\",
                        _ when Hidden(c) => "\\u" + ((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture),
                        _ => c.ToString(),
                    });
                }

                line.Append('\'');
            }
            else
            {
                line.Append('\'').Append(arg.Replace("'", "'\\''", StringComparison.Ordinal)).Append('\'');
            }
        }

        return line.ToString();
    }

    // Characters that are not seen as themselves: controls, and format characters such as the bidirectional overrides
    // that reorder what a reader sees.
    private static bool Hidden(char c) => char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format;

    private static string CanonicalHash(Principal principal, ProposalKind kind, string workspace, ProposalArguments arguments)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false }))
        {
            // Keys are written in ordinal order at every level, so equal proposals give equal bytes.
            json.WriteStartObject();
            json.WriteStartArray("args");
            foreach (var arg in arguments.Args)
            {
                json.WriteStringValue(arg);
            }

            json.WriteEndArray();
            json.WriteString("command", arguments.Command);

            // The fields that came later are written only when set, so a proposal that has none of them (a ticket
            // recorded before they existed) keeps its hash.
            if (arguments.Content is { } content)
            {
                json.WriteString("content", content);
            }

            if (arguments.Env.Count > 0)
            {
                WriteSorted(json, "env", arguments.Env);
            }

            json.WriteString("kind", kind.Name());
            WriteSorted(json, "other", arguments.Other);
            json.WriteString("path", arguments.Path);
            json.WriteStartObject("principal");
            json.WriteString("agent", principal.Agent.Value);
            json.WriteString("role", principal.RoleName);
            json.WriteString("session", principal.SessionId);
            json.WriteEndObject();
            if (arguments.Program is { } program)
            {
                json.WriteString("program", program);
            }

            json.WriteStartArray("recipients");
            foreach (var recipient in arguments.Recipients)
            {
                json.WriteStringValue(recipient);
            }

            json.WriteEndArray();
            if (arguments.Secrets.Count > 0)
            {
                json.WriteStartArray("secrets");
                foreach (var secret in arguments.Secrets)
                {
                    json.WriteStringValue(secret);
                }

                json.WriteEndArray();
            }

            if (arguments.Stdin is { } stdin)
            {
                json.WriteString("stdin", stdin);
            }

            if (arguments.Template is { } template)
            {
                json.WriteString("template", template);
            }

            if (arguments.TemplateTimeoutSeconds is { } templateTimeout)
            {
                json.WriteNumber("template_timeout_seconds", templateTimeout);
            }

            if (arguments.TimeoutSeconds is { } timeout)
            {
                json.WriteNumber("timeout_seconds", timeout);
            }

            if (arguments.Workdir is { } workdir)
            {
                json.WriteString("workdir", workdir);
            }

            json.WriteString("workspace", workspace);
            json.WriteEndObject();
        }

        return Convert.ToHexStringLower(SHA256.HashData(buffer.WrittenSpan));
    }

    private static void WriteSorted(Utf8JsonWriter json, string name, IReadOnlyDictionary<string, string> values)
    {
        json.WriteStartObject(name);
        var keys = values.Keys.ToArray();
        Array.Sort(keys, StringComparer.Ordinal);
        foreach (var key in keys)
        {
            json.WriteString(key, values[key]);
        }

        json.WriteEndObject();
    }
}
