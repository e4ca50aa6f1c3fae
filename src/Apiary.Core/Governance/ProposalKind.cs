namespace Apiary.Governance;

/// <summary>What kind of side effect a <see cref="Proposal"/> intends.</summary>
public enum ProposalKind
{
    /// <summary>Run a program (<c>exec</c>).</summary>
    Exec,

    /// <summary>Read a file (<c>read_file</c>).</summary>
    ReadFile,

    /// <summary>Write a file (<c>write_file</c>).</summary>
    WriteFile,

    /// <summary>List a folder (<c>list_dir</c>).</summary>
    ListDir,

    /// <summary>Send a message to other agents or the operator (<c>send_message</c>).</summary>
    SendMessage,

    /// <summary>Start another agent (<c>spawn_agent</c>).</summary>
    SpawnAgent,

    /// <summary>Make an HTTP request (<c>http_request</c>).</summary>
    HttpRequest,

    /// <summary>Call a tool of a downstream MCP server (<c>mcp_tool</c>).</summary>
    McpTool,

    /// <summary>Call a model for an agent's turn or its memory's compaction (<c>model_call</c>): a control-plane kind.</summary>
    ModelCall,

    /// <summary>Start a run of an agent (<c>start_agent</c>): a control-plane kind.</summary>
    StartAgent,

    /// <summary>Stop every run of an agent (<c>stop_agent</c>): a control-plane kind.</summary>
    StopAgent,

    /// <summary>Stop an agent's runs and start it again (<c>restart_agent</c>): a control-plane kind.</summary>
    RestartAgent,

    /// <summary>Reload an agent's definition from its files (<c>update_agent</c>): a control-plane kind.</summary>
    UpdateAgent,
}

/// <summary>The names of <see cref="ProposalKind"/> values as they appear in policies, events and the protocol.</summary>
public static class ProposalKinds
{
    private static readonly string[] Names =
    [
        "exec", "read_file", "write_file", "list_dir", "send_message", "spawn_agent", "http_request", "mcp_tool",
        "model_call", "start_agent", "stop_agent", "restart_agent", "update_agent",
    ];

    /// <summary>Every kind name, in enum order.</summary>
    public static IReadOnlyList<string> All => Names;

    /// <summary>
    /// Whether <paramref name="kind"/> is a control-plane kind (a model call, or starting, stopping, restarting or
    /// updating an agent): matched only by rules that name it in <c>kind</c>, and allowed by the built-in rule
    /// <see cref="Policy.ControlPlaneRule"/> when none does.
    /// </summary>
    public static bool IsControlPlane(this ProposalKind kind) => kind >= ProposalKind.ModelCall;

    /// <summary>The policy name of <paramref name="kind"/>, such as <c>read_file</c>.</summary>
    public static string Name(this ProposalKind kind) => Names[(int)kind];

    /// <summary>Parses a policy name such as <c>read_file</c>.</summary>
    public static bool TryParse(string? name, out ProposalKind kind)
    {
        var index = Array.IndexOf(Names, name);
        kind = index < 0 ? default : (ProposalKind)index;
        return index >= 0;
    }
}
