using System.Text.Json.Serialization.Metadata;
using Apiary.Agents;
using Apiary.Governance;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Apiary.Home;
using Apiary.Runtime.LiveConfig;

namespace Apiary.Server;

/// <summary>The routes of the API. docs/api.md describes each one.</summary>
internal static partial class ApiEndpoints
{
    private static readonly string[] Kinds = ["exec", "read_file", "write_file", "list_dir"];

    // A file's content and a command's standard input are data, kept byte for byte, NULs included; every other field of
    // a proposal names something (a program, an argument, a path) and may hold none.
    private static readonly string[] ProposalData = ["content", "stdin"];

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Json(new HealthDto("ok"), ServerJsonContext.Default.HealthDto)).ExcludeFromDescription();
        app.MapGet("/readyz", ReadyAsync).Produces<ReadinessDto>().Produces<ReadinessDto>(503).WithMetadata(BearerToken.Optional);

        var api = app.MapGroup("/api").WithMetadata(BearerToken.Needed);
        api.MapGet("/agents", ListAgentsAsync).Produces<IReadOnlyList<AgentDto>>();
        api.MapGet("/agents/{name}", ShowAgentAsync).Produces<AgentDetailDto>();
        api.MapGet("/agents/{name}/stats", AgentStatsAsync).Produces<AgentStatsDto>();
        api.MapPost("/agents", CreateAgentAsync).Produces<AgentDetailDto>(201);
        api.MapPost("/sessions", OpenSessionAsync).Produces<OpenSessionResponse>(201);
        api.MapGet("/tools", (ApiaryRuntime runtime) => Results.Json<IReadOnlyList<ToolDescriptor>>([.. runtime.Tools.All.Select(t => t.Descriptor)], ApiJsonContext.Default.IReadOnlyListToolDescriptor))
            .Produces<IReadOnlyList<ToolDescriptor>>();
        api.MapGet("/sessions", (ApiaryRuntime runtime) => Results.Json<IReadOnlyList<SessionDto>>(runtime.Sessions.All.Select(s => s.ToDto()).ToList(), ApiJsonContext.Default.IReadOnlyListSessionDto))
            .Produces<IReadOnlyList<SessionDto>>();
        api.MapGet("/sessions/{id}", async (string id, ApiaryRuntime runtime, CancellationToken cancellationToken) => await runtime.Sessions.DescribeAsync(id, cancellationToken).ConfigureAwait(false) is { } session
            ? Results.Json(session, ApiJsonContext.Default.SessionDto)
            : UnknownSession(id)).Produces<SessionDto>();
        api.MapPost("/sessions/{id}/close", CloseSessionAsync).Produces<SessionDto>();
        api.MapPost("/sessions/{id}/proposals", SubmitAsync).Produces<ProposalDto>(201);
        api.MapGet("/proposals/{id}", async (string id, ApiaryRuntime runtime, CancellationToken cancellationToken) => await runtime.FindProposalAsync(id, cancellationToken).ConfigureAwait(false) is { } proposal
            ? Results.Json(proposal, ApiJsonContext.Default.ProposalDto)
            : UnknownProposal(id)).Produces<ProposalDto>();
        api.MapGet("/proposals/{id}/output", StreamOutputAsync).Produces(200, contentType: "text/event-stream");
        api.MapGet("/proposals/{id}/explain", ExplainAsync).Produces(200, contentType: "application/json");
        api.MapGet("/approvals", ListApprovals).Produces<IReadOnlyList<TicketDto>>();
        api.MapPost("/approvals/{ticket}/approve", ApproveAsync).Produces<TicketAnswerDto>();
        api.MapPost("/approvals/{ticket}/deny", DenyAsync).Produces<TicketAnswerDto>();
        api.MapGet("/kill-switches", (ApiaryRuntime runtime) => KillSwitches(runtime)).Produces<IReadOnlyList<KillSwitchDto>>();
        api.MapPost("/kill-switches", EngageAsync).Produces<KillSwitchDto>();
        api.MapPost("/kill-switches/release", ReleaseAsync).Produces<IReadOnlyList<KillSwitchDto>>();
        api.MapGet("/events", ReadEventsAsync).Produces<IReadOnlyList<EventDto>>();
        api.MapGet("/events/stream", StreamEventsAsync).Produces(200, contentType: "text/event-stream");
        api.MapGet("/audit/verify", VerifyAsync).Produces<AuditVerifyDto>();
        MapRuns(api);
        MapMessages(api);
    }

    private static async Task<IResult> ReadyAsync(HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        var checks = new List<ReadinessCheckDto>();
        try
        {
            await foreach (var unused in runtime.Store.ReadAllAsync(1, cancellationToken).ConfigureAwait(false))
            {
                break;
            }

            // Reading works while writing does not (a full disk): the store is ready only when its last write committed.
            checks.Add(runtime.Store.WriteFault is { } fault
                ? new ReadinessCheckDto("store", false, $"{runtime.Store.Path}: cannot write since {fault.Since:u}: {fault.Reason}")
                : new ReadinessCheckDto("store", true, runtime.Store.Path));
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or ObjectDisposedException)
        {
            checks.Add(new ReadinessCheckDto("store", false, $"{runtime.Store.Path}: {ex.Message}"));
        }

        checks.Add(new ReadinessCheckDto("policies", runtime.PolicyProblem is null, runtime.PolicyProblem ?? $"loaded from {runtime.Home.PoliciesDirectory}"));

        // A change that did not load leaves what was in force serving, so it is ready; the detail says what is wrong.
        var problems = runtime.Live.Problems.Where(p => p.Part != ConfigParts.Policies || runtime.PolicyProblem is null).ToList();
        checks.Add(new ReadinessCheckDto("config", true, problems.Count == 0
            ? "versions in force: " + string.Join(", ", ConfigParts.All.Select(p => $"{p} {(runtime.Live.VersionOf(p) is { } v ? v[..12] : "none")}"))
            : string.Join("; ", problems.Select(p => $"{p.Part} changed but cannot be loaded, so {p.Kept}: {string.Join("; ", p.Errors)}"))));
        checks.Add(new ReadinessCheckDto("sandbox", runtime.Backend is not null, runtime.Backend is { } backend
            ? backend.IsConfined ? backend.Name : $"{backend.Name}: commands are NOT isolated (development only)"
            : runtime.SandboxProblem ?? "no backend"));
        var ready = checks.All(c => c.Ready);
        if (!context.Items.ContainsKey(typeof(TokenGrant)))
        {
            // A caller without a token (a load balancer's probe) learns whether each check is ready, and nothing of the
            // home: no path, no name, not even which sandbox runs.
            checks = checks.ConvertAll(c => c with { Detail = c.Ready ? "ok" : "not ready; send a token of the home (Authorization: Bearer) to learn why" });
        }

        return Results.Json(new ReadinessDto(ready, checks), ApiJsonContext.Default.ReadinessDto, statusCode: ready ? 200 : 503);
    }

    private static async Task<IResult> CreateAgentAsync(HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        var (request, problem) = await JsonBody.ReadAsync(context, ApiJsonContext.Default.CreateAgentRequest).ConfigureAwait(false);
        if (request is null)
        {
            return problem!;
        }

        if (string.IsNullOrWhiteSpace(request.Name) || !AgentName.TryCreate(request.Name, out var name, out var error))
        {
            return Problems.BadRequest($"'name' must be a valid agent name (lowercase letters, digits and dashes){(request.Name is null ? "" : $", not '{request.Name}'")}");
        }

        AgentRole role;
        switch (request.Role)
        {
            case null or "worker":
                role = AgentRole.Worker;
                break;
            case "manager":
                role = AgentRole.Manager;
                break;
            default:
                return Problems.BadRequest($"'role' must be 'worker' or 'manager', not '{request.Role}'");
        }

        try
        {
            var entry = await runtime.Catalog.CreateAsync(name, role, request.Description, cancellationToken).ConfigureAwait(false);
            return Results.Json(Detail(entry, runtime), ApiJsonContext.Default.AgentDetailDto, statusCode: 201);
        }
        catch (AgentExistsException ex)
        {
            return Problems.Of(409, "Agent exists", $"{ex.Message}; pick another name, or GET /api/agents/{name} to see it");
        }
    }

    private static async Task<IResult> OpenSessionAsync(HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        var (request, problem) = await JsonBody.ReadAsync(context, ApiJsonContext.Default.OpenSessionRequest).ConfigureAwait(false);
        if (request is null)
        {
            return problem!;
        }

        if (string.IsNullOrWhiteSpace(request.Agent))
        {
            return Problems.BadRequest("'agent' is required: the agent the session runs as (GET /api/agents lists them)");
        }

        var opened = await runtime.OpenSessionAsync(request, context.Grant().Who, cancellationToken).ConfigureAwait(false);
        return Results.Json(opened, ApiJsonContext.Default.OpenSessionResponse, statusCode: 201);
    }

    private static async Task<IResult> CloseSessionAsync(string id, HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken) =>
        runtime.Sessions.Find(id) is { } session
            ? Results.Json(await runtime.Sessions.CloseAsync(session, context.Grant().Who, cancellationToken).ConfigureAwait(false), ApiJsonContext.Default.SessionDto)
            : await runtime.Sessions.DescribeAsync(id, cancellationToken).ConfigureAwait(false) is { } recorded
                ? Results.Json(recorded, ApiJsonContext.Default.SessionDto)
                : UnknownSession(id);

    private static async Task<IResult> SubmitAsync(string id, bool? wait, int? timeout, HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        if (runtime.Sessions.Find(id) is not { } session)
        {
            // A session this server does not hold open is closed (or another process's): nothing can be proposed in it here.
            return await runtime.Sessions.DescribeAsync(id, cancellationToken).ConfigureAwait(false) is { } recorded
                ? Problems.Of(StatusCodes.Status409Conflict, "Session closed", $"session {id} is {recorded.State} here; open a new one with POST /api/sessions")
                : UnknownSession(id);
        }

        var (request, problem) = await JsonBody.ReadAsync(context, ApiJsonContext.Default.ProposalRequest, data: ProposalData).ConfigureAwait(false);
        if (request is null)
        {
            return problem!;
        }

        if (Validate(request) is { } invalid)
        {
            return Problems.BadRequest(invalid);
        }

        if (timeout is < 1 or > 3600)
        {
            return Problems.BadRequest("'timeout' (seconds to wait with wait=true) must be between 1 and 3600");
        }

        var run = await runtime.SubmitAsync(session, request, cancellationToken).ConfigureAwait(false);
        if (wait == true)
        {
            await run.Terminal.WaitAsync(TimeSpan.FromSeconds(timeout ?? 60), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }

        context.Response.Headers.Location = $"/api/proposals/{run.Id}";
        return Results.Json(run.ToDto(), ApiJsonContext.Default.ProposalDto, statusCode: 201);
    }

    private static string? Validate(ProposalRequest request)
    {
        if (request.Kind is null || !Kinds.Contains(request.Kind))
        {
            return $"'kind' must be one of {string.Join(", ", Kinds)}{(request.Kind is null ? "" : $", not '{request.Kind}'")}";
        }

        if (request.Kind == "exec")
        {
            if (string.IsNullOrWhiteSpace(request.Command))
            {
                return "an exec needs 'command': the program to run (its arguments go in 'args', an array of strings; no shell)";
            }

            if (request.Args?.Any(a => a is null) == true || request.Env?.Any(p => string.IsNullOrEmpty(p.Key) || p.Value is null || p.Key.Contains('=', StringComparison.Ordinal)) == true)
            {
                return "'args' must be strings, and 'env' an object of NAME: value strings";
            }

            if (request.Secrets?.Any(string.IsNullOrWhiteSpace) == true)
            {
                return "'secrets' must be an array of secret names (as 'apiary secrets list' shows them)";
            }

            if (request.TimeoutSeconds is < 1 or > 86400)
            {
                return "'timeout_seconds' must be between 1 and 86400";
            }

            return null;
        }

        if (request.Kind != "list_dir" && string.IsNullOrEmpty(request.Path))
        {
            return $"a {request.Kind} needs 'path': a path relative to the workspace";
        }

        if (request.Kind == "write_file" && request.Content is null)
        {
            return "a write_file needs 'content': the UTF-8 text to write (\"\" for an empty file)";
        }

        return null;
    }

    private static async Task<IResult> ExplainAsync(string id, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        if (!Guid.TryParseExact(id, "N", out _))
        {
            return Problems.BadRequest($"'{id}' is not a proposal id (32 hex digits)");
        }

        // Its decisions carry its id, and the first names its session's stream, where the rest of its record is.
        var streams = runtime.Executor.FindRun(id) is { } run ? "session-" + run.Session.Id
            : (await runtime.Store.FindAsync(PipelineEventTypes.ProposalDecided, id, cancellationToken).ConfigureAwait(false)) is [var first, ..] ? first.Stream : null;
        var events = streams is null ? AsyncEnumerable.Empty<RecordedEvent>() : runtime.Store.ReadStreamAsync(streams, 1, cancellationToken);
        string? latest = null;
        await foreach (var e in events.ConfigureAwait(false))
        {
            if (e.Type == PipelineEventTypes.ProposalDecided && PipelineRecords.ReadDecision(e).ProposalId == id)
            {
                latest = System.Text.Encoding.UTF8.GetString(e.Data.Span);
            }
        }

        return latest is null
            ? UnknownProposal(id)
            : Results.Text(latest, "application/json");
    }

    private static IResult ListApprovals(ApiaryRuntime runtime)
    {
        IReadOnlyList<TicketDto> tickets = runtime.Pipeline.OpenTickets.Select(TicketOf).ToList();
        return Results.Json(tickets, ApiJsonContext.Default.IReadOnlyListTicketDto);
    }

    /// <summary>An open ticket as the API and the dashboard show it: what waits, the exact command or path, the rule, and a spawn's diff.</summary>
    internal static TicketDto TicketOf(ApprovalTicket t) => new(
        t.Id.ToString(),
        t.Proposal.Id.ToString(),
        t.Proposal.Principal.Agent.Value,
        t.Proposal.Principal.SessionId,
        t.Proposal.Kind.Name(),
        t.Proposal.Arguments.Command is not null ? t.Proposal.CommandLine
            : t.Proposal.Kind == ProposalKind.SpawnAgent ? $"spawn_agent {t.Proposal.Arguments.Other.GetValueOrDefault("agent")} from {t.Proposal.Arguments.Path} (diff: apiary explain {t.Proposal.Id})"
            : $"{t.Proposal.Kind.Name()} {t.Proposal.Arguments.Path}",
        t.Risk.ToString().ToLowerInvariant(),
        t.Rule,
        t.Reason,
        t.RequestedAt,
        t.ExpiresAt,
        t.Proposal.Workspace,
        t.Proposal.Kind == ProposalKind.SpawnAgent ? t.Proposal.Arguments.Other.GetValueOrDefault("diff") : null,
        ProposalDetails.Of(t.Proposal));

    private static async Task<IResult> ApproveAsync(string ticket, HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        if (!Guid.TryParseExact(ticket, "N", out var guid))
        {
            return Problems.NotFound("ticket", $"'{ticket}' is not a ticket id (32 hex digits); GET /api/approvals lists the open tickets");
        }

        var (request, problem) = await JsonBody.ReadAsync(context, ApiJsonContext.Default.ApproveRequest, optional: true).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }

        var scope = request?.ForSession == true ? ApprovalScope.Session : ApprovalScope.Once;
        return await AnswerAsync(() => runtime.Pipeline.ApproveAsync(new ApprovalTicketId(guid), scope, context.Grant().Who, cancellationToken), ApprovalState.Granted).ConfigureAwait(false);
    }

    private static async Task<IResult> DenyAsync(string ticket, HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        if (!Guid.TryParseExact(ticket, "N", out var guid))
        {
            return Problems.NotFound("ticket", $"'{ticket}' is not a ticket id (32 hex digits); GET /api/approvals lists the open tickets");
        }

        var (request, problem) = await JsonBody.ReadAsync(context, ApiJsonContext.Default.DenyRequest).ConfigureAwait(false);
        if (request is null)
        {
            return problem!;
        }

        if (string.IsNullOrWhiteSpace(request.Reason))
        {
            return Problems.BadRequest("'reason' is required to deny: the agent is told why");
        }

        return await AnswerAsync(() => runtime.Pipeline.DenyAsync(new ApprovalTicketId(guid), request.Reason, context.Grant().Who, cancellationToken), ApprovalState.Denied).ConfigureAwait(false);
    }

    /// <summary>Answers a ticket: its new state, or 409 when it was no longer open (answered, used or expired before), saying how it stands.</summary>
    private static async Task<IResult> AnswerAsync(Func<Task<ApprovalAnswer>> answer, ApprovalState wanted)
    {
        try
        {
            var a = await answer().ConfigureAwait(false);
            if (!a.Answered || a.State != wanted)
            {
                return Problems.Of(409, "Ticket not open", $"ticket {a.Ticket} is no longer open: {ApprovalText.Standing(a)}; nothing changed");
            }

            return Results.Json(new TicketAnswerDto(a.Ticket.ToString(), a.State.ToString().ToLowerInvariant(), a.By, a.Reason), ApiJsonContext.Default.TicketAnswerDto);
        }
        catch (ApprovalTicketException ex)
        {
            // No such ticket (one that was answered is a 409 above, saying how it stands).
            return Problems.NotFound("ticket", $"{ex.Message}; GET /api/approvals lists the open tickets");
        }
    }

    private static IResult KillSwitches(ApiaryRuntime runtime)
    {
        IReadOnlyList<KillSwitchDto> engaged = runtime.Pipeline.EngagedKillSwitches.Select(Dto).ToList();
        return Results.Json(engaged, ApiJsonContext.Default.IReadOnlyListKillSwitchDto);
    }

    private static KillSwitchDto Dto(EngagedKillSwitch k) => new(
        k.Scope.Level.ToString().ToLowerInvariant(),
        k.Scope.Level == KillSwitchLevel.Global ? null : k.Scope.Id,
        k.Reason,
        k.EngagedBy,
        k.EngagedAt);

    /// <summary>A kill-switch request's body and its scope, or the problem to answer when either is wrong.</summary>
    private static async Task<(KillSwitchRequest? Request, KillSwitchScope Scope, IResult? Problem)> ReadKillSwitchAsync(HttpContext context)
    {
        var (request, problem) = await JsonBody.ReadAsync(context, ApiJsonContext.Default.KillSwitchRequest).ConfigureAwait(false);
        if (request is null)
        {
            return (null, default!, problem);
        }

        return ScopeOf(request, out var scope) is { } invalid ? (null, scope, Problems.BadRequest(invalid)) : (request, scope, null);
    }

    private static async Task<IResult> EngageAsync(HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        var (request, scope, problem) = await ReadKillSwitchAsync(context).ConfigureAwait(false);
        if (request is null)
        {
            return problem!;
        }

        if (string.IsNullOrWhiteSpace(request.Reason))
        {
            return Problems.BadRequest("'reason' is required to engage a kill switch: it is recorded and shown to whoever is stopped");
        }

        var engaged = await runtime.Pipeline.EngageKillSwitchAsync(scope, request.Reason, context.Grant().Who, cancellationToken).ConfigureAwait(false);
        return Results.Json(Dto(engaged), ApiJsonContext.Default.KillSwitchDto);
    }

    private static async Task<IResult> ReleaseAsync(HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        var (request, scope, problem) = await ReadKillSwitchAsync(context).ConfigureAwait(false);
        if (request is null)
        {
            return problem!;
        }

        return await runtime.Pipeline.ReleaseKillSwitchAsync(scope, context.Grant().Who, cancellationToken).ConfigureAwait(false)
            ? KillSwitches(runtime)
            : Problems.NotFound("kill switch", $"no kill switch is engaged for {scope}; GET /api/kill-switches lists the engaged ones");
    }

    private static string? ScopeOf(KillSwitchRequest request, out KillSwitchScope scope)
    {
        scope = KillSwitchScope.Global;
        switch (request.Level)
        {
            case "global":
                return null;
            case "agent" when !string.IsNullOrWhiteSpace(request.Id) && AgentName.TryCreate(request.Id, out var agent, out _):
                scope = KillSwitchScope.Agent(agent);
                return null;
            case "session" when !string.IsNullOrWhiteSpace(request.Id):
                scope = KillSwitchScope.Session(request.Id);
                return null;
            case "agent" or "session":
                return $"a {request.Level} kill switch needs 'id': the {request.Level} it covers";
            default:
                return $"'level' must be global, agent or session{(request.Level is null ? "" : $", not '{request.Level}'")}";
        }
    }

    private static async Task<IResult> VerifyAsync(ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        var report = await AuditVerifier.VerifyAsync(runtime.Store, new AuditFiles(runtime.Home.Root), cancellationToken).ConfigureAwait(false);
        var first = report.Problems.Count > 0 ? report.Problems[0] : null;
        return Results.Json(
            new AuditVerifyDto(
                report.IsIntact,
                report.Events,
                first?.Position,
                first?.Reason,
                report.Checkpoints,
                [.. report.Problems.Select(p => new AuditProblemDto(p.KindName, p.Position, p.Through, p.Reason))]),
            ApiJsonContext.Default.AuditVerifyDto);
    }

    private static IResult UnknownAgent(ApiaryRuntime runtime, string name) =>
        Problems.NotFound("agent", $"there is no agent named '{name}' in {runtime.Home.AgentsDirectory}; GET /api/agents lists the agents, POST /api/agents creates one");

    private static IResult UnknownSession(string id) =>
        Problems.NotFound("session", $"there is no session '{id}' on this server; GET /api/sessions lists them, POST /api/sessions opens one");

    private static IResult UnknownProposal(string id) =>
        Problems.NotFound("proposal", $"there is no proposal '{id}' on this server; proposals of an earlier server run are in the event log (GET /api/events)");
}
