using System.Text.Json;

namespace Apiary.Contracts;

// The JSON shapes of the API under /api (snake_case on the wire, nulls left out). docs/api.md describes each route.

/// <summary>One agent of the home, as <c>GET /api/agents</c> lists it.</summary>
/// <param name="Name">Its name (the folder's).</param>
/// <param name="Role"><c>worker</c> or <c>manager</c>.</param>
/// <param name="Status"><c>ok</c>, or <c>broken</c> when its definition has errors.</param>
/// <param name="Description">What it is for.</param>
/// <param name="Model">Its model (<c>endpoint/model</c>), if set.</param>
/// <param name="Directory">Its folder.</param>
/// <param name="ToolProfile">Its tool profile; null when its definition cannot be read.</param>
/// <param name="Template">Its sandbox template; null when its definition cannot be read.</param>
/// <param name="Files">Its bootstrap files, present or not; null when its definition cannot be read.</param>
/// <param name="Findings">What is wrong with its definition, with file, line and column.</param>
/// <param name="State">
/// Its lifecycle state: <c>stopped</c>, <c>starting</c>, <c>running</c>, <c>idle</c> (its runs wait for an approval or for
/// messages), <c>crashed</c>, <c>needs-update</c> (its files changed since its run started) or <c>rebuilding</c>.
/// </param>
/// <param name="LastFailure">How its last run that did not finish ended, and whether it is restarted; null when its last run finished (or none ran).</param>
public sealed record AgentDto(
    string Name,
    string Role,
    string Status,
    string? Description,
    string? Model,
    string? Directory = null,
    string? ToolProfile = null,
    string? Template = null,
    IReadOnlyList<AgentFileDto>? Files = null,
    IReadOnlyList<DiagnosticDto>? Findings = null,
    string? State = null,
    AgentFailureDto? LastFailure = null);

/// <summary>
/// How an agent's last run that did not finish ended: <c>failed</c> or <c>budget_exhausted</c> on its own (never
/// restarted), or <c>crashed</c> (an exception escaped its loop; the supervisor restarts it with backoff, up to a limit).
/// </summary>
/// <param name="Run">The run.</param>
/// <param name="Session">Its session.</param>
/// <param name="Status"><c>failed</c>, <c>budget_exhausted</c> or <c>crashed</c>.</param>
/// <param name="Reason">Why, as its <c>run.ended</c> says.</param>
/// <param name="At">When it ended.</param>
/// <param name="Crashed">Whether it crashed, and so is restarted.</param>
/// <param name="Restart">What became of it: <c>not restarted: ...</c>, <c>restart 1 of 3 due at ...</c>, <c>restarted as run ...</c>, or why a restart could not be made.</param>
public sealed record AgentFailureDto(string Run, string Session, string Status, string Reason, DateTimeOffset At, bool Crashed, string Restart);

/// <summary><c>GET /api/agents?findings=true</c>: the agents and what is wrong with the agents folder itself (a folder skipped for its name, a missing folder).</summary>
/// <param name="Agents">The agents.</param>
/// <param name="Findings">What is wrong with the folder.</param>
public sealed record AgentListingDto(IReadOnlyList<AgentDto> Agents, IReadOnlyList<DiagnosticDto> Findings);

/// <summary>A finding about a file of the home: an error or a warning, where it is, and what to do.</summary>
/// <param name="Severity"><c>error</c> or <c>warning</c>.</param>
/// <param name="Message">What is wrong and what to do.</param>
/// <param name="File">The file (or <c>command line</c>).</param>
/// <param name="Line">The line, 1-based.</param>
/// <param name="Column">The column, 1-based.</param>
public sealed record DiagnosticDto(string Severity, string Message, string? File = null, int? Line = null, int? Column = null);

/// <summary>One bootstrap file of an agent.</summary>
/// <param name="Name">Its name (<c>SOUL.md</c>, ...).</param>
/// <param name="Exists">Whether it exists.</param>
/// <param name="Bytes">Its size.</param>
public sealed record AgentFileDto(string Name, bool Exists, long Bytes);

/// <summary>An effective setting and the layer it came from.</summary>
/// <typeparam name="T">The setting's type.</typeparam>
/// <param name="Value">The value.</param>
/// <param name="Source"><c>command_line</c> (an override of the request), <c>frontmatter</c>, <c>home_config</c> or <c>default</c>.</param>
public sealed record SettingDto<T>(T Value, string Source);

/// <summary>An agent's effective settings, each with where it came from.</summary>
/// <param name="Role">worker or manager.</param>
/// <param name="Model">The model.</param>
/// <param name="ToolProfile">The tool profile.</param>
/// <param name="Template">The sandbox template.</param>
/// <param name="AllowedRecipients">Whom it may message.</param>
/// <param name="Budget">Its per-session budget.</param>
public sealed record AgentSettingsDto(
    SettingDto<string> Role,
    SettingDto<string?> Model,
    SettingDto<string> ToolProfile,
    SettingDto<string> Template,
    SettingDto<IReadOnlyList<string>> AllowedRecipients,
    AgentBudgetDto Budget);

/// <summary>An agent's per-session budget.</summary>
/// <param name="Commands">Commands.</param>
/// <param name="WallTime">Wall time, as a duration (<c>30m</c>).</param>
/// <param name="Tokens">Model tokens.</param>
/// <param name="CostUsd">Cost in US dollars.</param>
public sealed record AgentBudgetDto(SettingDto<int> Commands, SettingDto<string> WallTime, SettingDto<long> Tokens, SettingDto<decimal> CostUsd);

/// <summary>An agent's workspace.</summary>
/// <param name="Path">The folder.</param>
/// <param name="IsDefault">Whether it is the default (<c>workspace/</c> in the agent's folder).</param>
/// <param name="Exists">Whether it exists yet.</param>
/// <param name="Source">Where the setting came from.</param>
public sealed record AgentWorkspaceDto(string Path, bool IsDefault, bool Exists, string Source);

/// <summary>Whether an agent's BOOTSTRAP.md is still injected.</summary>
/// <param name="Consumed">Whether a completed session consumed it.</param>
/// <param name="SessionId">That session.</param>
/// <param name="CompletedAt">When.</param>
public sealed record AgentBootstrapDto(bool Consumed, string? SessionId, DateTimeOffset? CompletedAt);

/// <summary>One agent in detail, <c>GET /api/agents/{name}</c>.</summary>
/// <param name="Agent">The summary.</param>
/// <param name="Directory">Its folder.</param>
/// <param name="Workspace">Its workspace folder.</param>
/// <param name="Template">Its sandbox template.</param>
/// <param name="Diagnostics">What is wrong with its definition, one line each.</param>
/// <param name="Settings">Its effective settings with their sources; null when its definition cannot be read.</param>
/// <param name="WorkspaceInfo">Its workspace in detail; null when its definition cannot be read.</param>
/// <param name="Bootstrap">Whether BOOTSTRAP.md is still injected; null when its definition cannot be read.</param>
public sealed record AgentDetailDto(
    AgentDto Agent,
    string Directory,
    string Workspace,
    string Template,
    IReadOnlyList<string> Diagnostics,
    AgentSettingsDto? Settings = null,
    AgentWorkspaceDto? WorkspaceInfo = null,
    AgentBootstrapDto? Bootstrap = null);

/// <summary><c>POST /api/agents</c>: scaffold a new agent folder, as <c>apiary agents new</c> does.</summary>
/// <param name="Name">The new agent's name.</param>
/// <param name="Role"><c>worker</c> (default) or <c>manager</c>.</param>
/// <param name="Description">What it is for.</param>
public sealed record CreateAgentRequest(string Name, string? Role = null, string? Description = null);

/// <summary>A session: an agent's run of work, owning a sandbox and budgets.</summary>
/// <param name="Id">The session id.</param>
/// <param name="Agent">Its agent.</param>
/// <param name="State"><c>open</c> or <c>closed</c>.</param>
/// <param name="Workspace">The workspace its sandbox mounts.</param>
/// <param name="OpenedAt">When it opened.</param>
/// <param name="ClosedAt">When it closed, if it did.</param>
public sealed record SessionDto(string Id, string Agent, string State, string Workspace, DateTimeOffset OpenedAt, DateTimeOffset? ClosedAt = null);

/// <summary><c>POST /api/sessions</c>: open a session for an agent.</summary>
/// <param name="Agent">The agent; <c>operator</c> is the person at the terminal (role manager, no budget), as <c>apiary exec</c> without <c>--agent</c> runs.</param>
/// <param name="Workspace">The folder the sandbox mounts instead of the agent's workspace (absolute or <c>~/...</c>; checked like a configured one). For <c>operator</c> without it, a new empty folder removed when the session closes.</param>
/// <param name="Template">The sandbox template, from <c>templates/</c> in the home, instead of the agent's.</param>
public sealed record OpenSessionRequest(string Agent, string? Workspace = null, string? Template = null);

/// <summary>The answer to <c>POST /api/sessions</c>: the session and a token that can act only as it.</summary>
/// <param name="Session">The session.</param>
/// <param name="Token">A bearer token limited to this session and its agent; shown once.</param>
public sealed record OpenSessionResponse(SessionDto Session, string Token);

/// <summary>
/// <c>POST /api/sessions/{id}/proposals</c>: a tool call for governance. <c>exec</c> uses command, args, workdir,
/// env, stdin and timeout_seconds; <c>read_file</c>, <c>write_file</c> and <c>list_dir</c> use path (relative to
/// the workspace); <c>write_file</c> also content.
/// </summary>
/// <param name="Kind"><c>exec</c>, <c>read_file</c>, <c>write_file</c> or <c>list_dir</c>.</param>
/// <param name="Command">The program.</param>
/// <param name="Args">Its arguments, passed verbatim (no shell).</param>
/// <param name="Workdir">The working folder inside the workspace.</param>
/// <param name="Env">Extra environment variables.</param>
/// <param name="Stdin">Standard input, as text.</param>
/// <param name="TimeoutSeconds">The command's time limit.</param>
/// <param name="Path">The file or folder.</param>
/// <param name="Content">What <c>write_file</c> writes, as UTF-8 text.</param>
/// <param name="Secrets">For <c>exec</c>: names of secrets in the server's secret store to give the command as environment variables. Only names cross the API; the server reads the values.</param>
public sealed record ProposalRequest(
    string Kind,
    string? Command = null,
    IReadOnlyList<string>? Args = null,
    string? Workdir = null,
    IReadOnlyDictionary<string, string>? Env = null,
    string? Stdin = null,
    int? TimeoutSeconds = null,
    string? Path = null,
    string? Content = null,
    IReadOnlyList<string>? Secrets = null);

/// <summary>The decision governance made on a proposal.</summary>
/// <param name="Decision"><c>allow</c>, <c>deny</c>, <c>pending</c> or <c>steer</c>.</param>
/// <param name="Stage">The stage that decided (<c>kill_switch</c>, <c>policy</c>, <c>approval</c>, <c>budget</c>, <c>lock</c>, <c>record</c>).</param>
/// <param name="Rule">The rule that matched.</param>
/// <param name="Risk">Its risk: <c>low</c>, <c>medium</c>, <c>high</c>, <c>critical</c>.</param>
/// <param name="Reason">Why, for anything but an allow: what the agent is told.</param>
/// <param name="TicketId">For a pending decision, the approval ticket to approve or deny.</param>
public sealed record DecisionDto(string Decision, string Stage, string Rule, string Risk, string? Reason = null, string? TicketId = null);

/// <summary>How an allowed proposal ended.</summary>
/// <param name="ExitCode">The command's exit code; null when it was killed or for file tools.</param>
/// <param name="Reason"><c>exited</c>, <c>timed_out</c>, <c>cancelled</c>, <c>output_limit</c>, <c>disk_quota</c>, <c>error</c>, <c>done</c>.</param>
/// <param name="DurationMs">How long it ran.</param>
/// <param name="Stdout">Standard output (capped; see truncated).</param>
/// <param name="Stderr">Standard error (capped).</param>
/// <param name="Truncated">Whether output was cut at the cap.</param>
/// <param name="Content">What <c>read_file</c> read, as UTF-8 text.</param>
/// <param name="Entries">What <c>list_dir</c> listed.</param>
/// <param name="Error">What went wrong, when the tool itself failed (no such file, ...).</param>
public sealed record ResultDto(
    int? ExitCode,
    string Reason,
    long DurationMs,
    string? Stdout = null,
    string? Stderr = null,
    bool Truncated = false,
    string? Content = null,
    IReadOnlyList<DirEntryDto>? Entries = null,
    string? Error = null);

/// <summary>One entry of a folder listing.</summary>
/// <param name="Name">Its name.</param>
/// <param name="Type"><c>file</c>, <c>dir</c>, <c>symlink</c> or <c>other</c>.</param>
/// <param name="Size">Its size in bytes, for a file.</param>
public sealed record DirEntryDto(string Name, string Type, long? Size);

/// <summary>A proposal and where it stands, <c>GET /api/proposals/{id}</c>.</summary>
/// <param name="Id">The proposal id.</param>
/// <param name="Session">Its session.</param>
/// <param name="Agent">Its agent.</param>
/// <param name="Kind">Its kind.</param>
/// <param name="Status"><c>denied</c>, <c>pending_approval</c>, <c>running</c>, <c>completed</c> (also when the command failed: see result).</param>
/// <param name="Decision">The latest decision.</param>
/// <param name="Result">How it ended, once completed.</param>
public sealed record ProposalDto(string Id, string Session, string Agent, string Kind, string Status, DecisionDto Decision, ResultDto? Result = null);

/// <summary>An open approval ticket, <c>GET /api/approvals</c>.</summary>
/// <param name="Ticket">The ticket id.</param>
/// <param name="Proposal">The proposal it would run.</param>
/// <param name="Agent">The agent.</param>
/// <param name="Session">The session.</param>
/// <param name="Kind">The proposal kind.</param>
/// <param name="CommandLine">Exactly what would run.</param>
/// <param name="Risk">The rule's risk.</param>
/// <param name="Rule">The rule that asked for approval.</param>
/// <param name="Reason">Why it needs approval.</param>
/// <param name="RequestedAt">When it was opened.</param>
/// <param name="ExpiresAt">When it expires unanswered.</param>
/// <param name="Workspace">The workspace the proposal would act in.</param>
/// <param name="Diff">For <c>spawn_agent</c>: the unified diff of the agent's files against what the home has now.</param>
/// <param name="Details">
/// For <c>exec</c> and <c>write_file</c>, the rest of what would run: the resolved program, the environment it sets, the
/// secrets it is given (names only), its standard input or content (size, SHA-256, and the text when short), its working
/// folder, template and time limit. <see cref="Governance.ProposalDetails.Lines"/> says them for people.
/// </param>
public sealed record TicketDto(
    string Ticket, string Proposal, string Agent, string Session, string Kind, string CommandLine, string Risk, string Rule, string? Reason, DateTimeOffset RequestedAt, DateTimeOffset ExpiresAt,
    string? Workspace = null, string? Diff = null, Governance.ProposalDetails? Details = null);

/// <summary><c>POST /api/approvals/{ticket}/approve</c>.</summary>
/// <param name="ForSession">Also let through later proposals of the session that the same rule sends to approval.</param>
public sealed record ApproveRequest(bool ForSession = false);

/// <summary><c>POST /api/approvals/{ticket}/deny</c>.</summary>
/// <param name="Reason">Why; the agent sees it.</param>
public sealed record DenyRequest(string Reason);

/// <summary>Where a ticket stands after an answer.</summary>
/// <param name="Ticket">The ticket.</param>
/// <param name="State"><c>open</c>, <c>granted</c>, <c>denied</c>, <c>expired</c> or <c>consumed</c>.</param>
/// <param name="By">Who answered.</param>
/// <param name="Reason">The deny reason.</param>
public sealed record TicketAnswerDto(string Ticket, string State, string? By = null, string? Reason = null);

/// <summary>An engaged kill switch, <c>GET /api/kill-switches</c>.</summary>
/// <param name="Level"><c>global</c>, <c>agent</c> or <c>session</c>.</param>
/// <param name="Id">The agent or session; null for global.</param>
/// <param name="Reason">Why.</param>
/// <param name="EngagedBy">Who.</param>
/// <param name="EngagedAt">When.</param>
public sealed record KillSwitchDto(string Level, string? Id, string Reason, string EngagedBy, DateTimeOffset EngagedAt);

/// <summary><c>POST /api/kill-switches</c> (engage) and <c>POST /api/kill-switches/release</c>.</summary>
/// <param name="Level"><c>global</c>, <c>agent</c> or <c>session</c>.</param>
/// <param name="Id">The agent or session; omitted for global.</param>
/// <param name="Reason">Why; required to engage.</param>
public sealed record KillSwitchRequest(string Level, string? Id = null, string? Reason = null);

/// <summary>One recorded event, <c>GET /api/events</c> and the SSE stream.</summary>
/// <param name="Position">Its global position (the SSE id).</param>
/// <param name="Stream">Its stream.</param>
/// <param name="Version">Its version in the stream.</param>
/// <param name="Type">Its type.</param>
/// <param name="Timestamp">When it was committed.</param>
/// <param name="Data">Its data (the audit skeleton), as JSON.</param>
/// <param name="HasBody">Whether it still has a body (output, ...) that retention has not purged.</param>
public sealed record EventDto(long Position, string Stream, long Version, string Type, DateTimeOffset Timestamp, JsonElement Data, bool HasBody);

/// <summary><c>GET /api/audit/verify</c>: the log checked against its hash chain, its signed checkpoints and its purges.</summary>
/// <param name="Intact">Whether nothing is wrong.</param>
/// <param name="Events">How many events were checked.</param>
/// <param name="BrokenAt">The first position of the first problem, if any.</param>
/// <param name="Problem">What is wrong there.</param>
/// <param name="Checkpoints">How many checkpoints recorded in the log verified and hold.</param>
/// <param name="Problems">Every problem found, by position.</param>
public sealed record AuditVerifyDto(bool Intact, long Events, long? BrokenAt = null, string? Problem = null, int Checkpoints = 0, IReadOnlyList<AuditProblemDto>? Problems = null);

/// <summary>One problem of the log, <c>GET /api/audit/verify</c>.</summary>
/// <param name="Kind"><c>broken_link</c>, <c>rewritten</c>, <c>cut_tail</c>, <c>body_removed</c>, <c>bad_signature</c> or <c>unanchored</c>.</param>
/// <param name="Position">The first position concerned, if any.</param>
/// <param name="Through">The last position concerned, for a range.</param>
/// <param name="Reason">What was found.</param>
public sealed record AuditProblemDto(string Kind, long? Position, long? Through, string Reason);

/// <summary>One readiness check, <c>GET /readyz</c>.</summary>
/// <param name="Name">What was checked (<c>store</c>, <c>policies</c>, <c>sandbox</c>).</param>
/// <param name="Ready">Whether it is ready.</param>
/// <param name="Detail">What was found.</param>
public sealed record ReadinessCheckDto(string Name, bool Ready, string Detail);

/// <summary><c>GET /readyz</c>: 200 when every check is ready, else 503 naming what is not.</summary>
/// <param name="Ready">Whether everything is ready.</param>
/// <param name="Checks">Each check.</param>
public sealed record ReadinessDto(bool Ready, IReadOnlyList<ReadinessCheckDto> Checks);

/// <summary><c>POST /api/agents/{name}/runs</c>: give an agent a task to work on with a model.</summary>
/// <param name="Task">What the agent is to do, as the first user message.</param>
/// <param name="Model">The model (<c>endpoint/model</c> in <c>models.yaml</c>) instead of the agent's own or the home's default.</param>
/// <param name="MaxTurns">The most model calls before the run fails with a turn cap; default 50, at most 1000.</param>
public sealed record StartRunRequest(string Task, string? Model = null, int? MaxTurns = null);

/// <summary>An agent run: the turn loop of one task in its own session.</summary>
/// <param name="Id">The run's id.</param>
/// <param name="Agent">The agent.</param>
/// <param name="Session">The session the run opened (its events are in stream <c>session-&lt;id&gt;</c>).</param>
/// <param name="Status"><c>running</c>, <c>waiting_approval</c>, <c>finished</c>, <c>budget_exhausted</c>, <c>killed</c>, <c>failed</c> (it ended on its own: a model call that failed, the turn cap) or <c>crashed</c> (an exception escaped its loop; the supervisor restarts it).</param>
/// <param name="Model">The model it runs with (<c>endpoint/model</c>).</param>
/// <param name="Turns">The model calls made so far.</param>
/// <param name="Answer">The agent's final answer, once finished.</param>
/// <param name="Error">Why it did not finish, when it did not.</param>
public sealed record RunDto(
    string Id,
    string Agent,
    string Session,
    string Status,
    string Model,
    int Turns,
    string? Answer = null,
    string? Error = null);

/// <summary>One run of an agent as the event log records it, <c>GET /api/agents/{name}/runs</c>: this server's and earlier servers'.</summary>
/// <param name="Id">The run's id.</param>
/// <param name="Session">Its session.</param>
/// <param name="Status">How it ended (<c>finished</c>, <c>failed</c>, <c>budget_exhausted</c>, <c>killed</c>, <c>crashed</c>), or, not ended, how it stands now (<c>running</c>, <c>waiting_approval</c>).</param>
/// <param name="Model">Its model.</param>
/// <param name="Turns">The model calls it made (so far).</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="By">Who started it (<c>operator</c>, a manager's run, the supervisor for a restart).</param>
/// <param name="EndedAt">When it ended, if it did.</param>
/// <param name="Task">Its task (the first 500 characters); null when purged from the record.</param>
/// <param name="Reason">Why it did not finish, when it did not.</param>
/// <param name="RestartOf">The crashed run it restarts, for a restart.</param>
/// <param name="Attempt">Which restart it is (from 1), for a restart.</param>
public sealed record RunRecordDto(
    string Id,
    string Session,
    string Status,
    string Model,
    int Turns,
    DateTimeOffset StartedAt,
    string By,
    DateTimeOffset? EndedAt = null,
    string? Task = null,
    string? Reason = null,
    string? RestartOf = null,
    int? Attempt = null);

/// <summary>
/// One step of a run, as <c>GET /api/runs/{id}/progress</c> sends it; <see cref="Type"/> is also the SSE event's name:
/// <c>model_call</c>, <c>tool_call</c>, <c>decision</c>, <c>tool_result</c>, <c>answer</c> or <c>end</c>.
/// </summary>
/// <param name="Type">What happened.</param>
/// <param name="Turn">The model call (1-based) it belongs to.</param>
/// <param name="Model">model_call: the model.</param>
/// <param name="InputTokens">model_call: input tokens, as the model reported them.</param>
/// <param name="OutputTokens">model_call: output tokens, as the model reported them.</param>
/// <param name="DurationMs">model_call: how long the call took.</param>
/// <param name="Tool">tool_call, decision, tool_result: the tool.</param>
/// <param name="Arguments">tool_call: its arguments as JSON.</param>
/// <param name="Proposal">decision, tool_result: the proposal the call became.</param>
/// <param name="Decision">decision: <c>allow</c>, <c>deny</c>, <c>steer</c> or <c>pending</c>.</param>
/// <param name="Rule">decision: the rule that decided.</param>
/// <param name="Reason">decision: why.</param>
/// <param name="TicketId">decision: the approval ticket, when pending.</param>
/// <param name="Output">tool_result: what the model is told (the start of it).</param>
/// <param name="Status">end: how the run ended.</param>
/// <param name="Answer">answer, end: the final answer.</param>
/// <param name="Error">end: why it did not finish.</param>
public sealed record RunProgressDto(
    string Type,
    int Turn,
    string? Model = null,
    long? InputTokens = null,
    long? OutputTokens = null,
    long? DurationMs = null,
    string? Tool = null,
    string? Arguments = null,
    string? Proposal = null,
    string? Decision = null,
    string? Rule = null,
    string? Reason = null,
    string? TicketId = null,
    string? Output = null,
    string? Status = null,
    string? Answer = null,
    string? Error = null);

/// <summary>
/// <c>POST /api/messages</c>: a message to an agent or the operator. There is no sender field: the server takes the
/// sender from the token (a session token sends as its agent, the operator token as <c>operator</c>).
/// </summary>
/// <param name="To">The recipient: an agent's name or <c>operator</c>.</param>
/// <param name="Body">The text.</param>
/// <param name="Thread">The conversation it belongs to; a new thread id when absent.</param>
/// <param name="ReplyTo">The id of the message it answers.</param>
public sealed record SendMessageRequest(string To, string Body, string? Thread = null, string? ReplyTo = null);

/// <summary>One message of an inbox.</summary>
/// <param name="Id">The message's id.</param>
/// <param name="Seq">Its sequence number in the recipient's inbox, from 1, without gaps.</param>
/// <param name="From">The authenticated sender: an agent's name or <c>operator</c>.</param>
/// <param name="To">The recipient.</param>
/// <param name="Role"><c>agent</c> or <c>operator</c>; never <c>user</c>.</param>
/// <param name="Thread">The conversation.</param>
/// <param name="ReplyTo">The id of the message it answers.</param>
/// <param name="Body">The text; null when retention purged it.</param>
/// <param name="At">When it was sent.</param>
public sealed record MessageDto(string Id, long Seq, string From, string To, string Role, string Thread, string? ReplyTo, string? Body, DateTimeOffset At);

/// <summary>What became of a <see cref="SendMessageRequest"/>.</summary>
/// <param name="Status"><c>sent</c>, or <c>pending</c> when a policy asks a person first (it is delivered once approved).</param>
/// <param name="Message">The delivered message, when sent.</param>
/// <param name="TicketId">The approval ticket, when pending.</param>
public sealed record SendMessageResponse(string Status, MessageDto? Message = null, string? TicketId = null);

/// <summary><c>GET /api/inbox/{agent}</c>: messages after a point, in order.</summary>
/// <param name="Agent">Whose inbox.</param>
/// <param name="Cursor">The sequence number acknowledged so far.</param>
/// <param name="Messages">The messages after <c>after</c> (by default after the cursor), oldest first.</param>
public sealed record InboxDto(string Agent, long Cursor, IReadOnlyList<MessageDto> Messages);

/// <summary><c>POST /api/inbox/{agent}/ack</c>: every message up to <paramref name="Through"/> is handled.</summary>
public sealed record AckRequest(long Through);

/// <summary><c>POST /api/messages/ask</c>: send a question and wait for the answer on its thread.</summary>
/// <param name="To">The recipient.</param>
/// <param name="Body">The question.</param>
/// <param name="Thread">The thread; a new one when absent.</param>
/// <param name="DeadlineSeconds">How long to wait for the answer; default 60, at most 600.</param>
public sealed record AskRequest(string To, string Body, string? Thread = null, int? DeadlineSeconds = null);

/// <summary>The question sent and its answer, or no answer when the deadline passed first.</summary>
public sealed record AskResponse(MessageDto Question, MessageDto? Answer);

/// <summary><c>GET /api/agents/{name}/stats?since=</c>: an agent's per-turn figures over a window, totals and series.</summary>
/// <param name="Agent">The agent.</param>
/// <param name="Since">The window's start: turns that ended at or after it count.</param>
/// <param name="Until">The window's end: when the figures were read.</param>
/// <param name="Runs">Runs with at least one turn in the window.</param>
/// <param name="Turns">Turns in the window.</param>
/// <param name="Totals">The window's totals.</param>
/// <param name="DurationMs">The spread of whole-turn durations.</param>
/// <param name="ModelLatencyMs">The spread of model-call latencies.</param>
/// <param name="InboxDepth">The agent's unacknowledged messages now.</param>
/// <param name="Series">The window's turns one by one, oldest first: the latest 1,000 at most.</param>
/// <param name="Truncated">True when the window holds more turns than <paramref name="Series"/> carries.</param>
public sealed record AgentStatsDto(
    string Agent,
    DateTimeOffset Since,
    DateTimeOffset Until,
    int Runs,
    int Turns,
    AgentStatsTotalsDto Totals,
    SpreadDto DurationMs,
    SpreadDto ModelLatencyMs,
    long InboxDepth,
    IReadOnlyList<TurnPointDto> Series,
    bool Truncated);

/// <summary>An agent's totals over a window of <see cref="AgentStatsDto"/>.</summary>
/// <param name="InputTokens">Input tokens of the model calls.</param>
/// <param name="OutputTokens">Output tokens of the model calls.</param>
/// <param name="CostUsd">What the model calls cost, by the models' prices.</param>
/// <param name="ToolCalls">Tool calls in all.</param>
/// <param name="ToolCallsByName">Tool calls by tool name.</param>
/// <param name="Denials">Refused calls in all.</param>
/// <param name="DenialsByKind">Refused calls by kind: <c>denied</c>, <c>steered</c>, <c>not_allowed</c>, <c>invalid</c>.</param>
/// <param name="ApprovalsWaited">Approval tickets the agent's turns waited for.</param>
/// <param name="ApprovalWaitMs">How long they waited in all.</param>
/// <param name="MessagesSent">Messages the agent sent that were delivered.</param>
/// <param name="MessagesReceived">Messages handed to the agent's model.</param>
public sealed record AgentStatsTotalsDto(
    long InputTokens,
    long OutputTokens,
    decimal CostUsd,
    int ToolCalls,
    IReadOnlyDictionary<string, int> ToolCallsByName,
    int Denials,
    IReadOnlyDictionary<string, int> DenialsByKind,
    int ApprovalsWaited,
    long ApprovalWaitMs,
    int MessagesSent,
    int MessagesReceived);

/// <summary>The spread of a figure over a window, in milliseconds: median, 95th percentile (nearest rank) and maximum; zeros without turns.</summary>
public sealed record SpreadDto(long P50, long P95, long Max);

/// <summary>One turn of an agent run, as a point of <see cref="AgentStatsDto.Series"/>.</summary>
/// <param name="At">When the turn ended.</param>
/// <param name="Run">The run.</param>
/// <param name="Turn">The turn's number in the run, from 1.</param>
/// <param name="DurationMs">The whole turn.</param>
/// <param name="ModelLatencyMs">Its model call.</param>
/// <param name="InputTokens">Input tokens of its model call.</param>
/// <param name="OutputTokens">Output tokens of its model call.</param>
/// <param name="CostUsd">What its model call cost.</param>
/// <param name="ToolCalls">Its tool calls.</param>
/// <param name="Denials">Its refused calls.</param>
/// <param name="ApprovalsWaited">Approval tickets it waited for.</param>
/// <param name="MessagesSent">Messages it sent that were delivered.</param>
/// <param name="MessagesReceived">Messages handed to the model.</param>
/// <param name="InboxDepth">The agent's unacknowledged messages when it ended.</param>
public sealed record TurnPointDto(
    DateTimeOffset At,
    string Run,
    int Turn,
    long DurationMs,
    long ModelLatencyMs,
    long InputTokens,
    long OutputTokens,
    decimal CostUsd,
    int ToolCalls,
    int Denials,
    int ApprovalsWaited,
    int MessagesSent,
    int MessagesReceived,
    long InboxDepth);
