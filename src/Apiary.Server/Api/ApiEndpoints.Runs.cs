using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;

namespace Apiary.Server;

// Agent runs: an agent given a task works on it with a model in a session of its own; its steps stream live.
internal static partial class ApiEndpoints
{
    private static void MapRuns(RouteGroupBuilder api)
    {
        api.MapPost("/agents/{name}/runs", StartRunAsync).Produces<RunDto>(201);
        api.MapGet("/agents/{name}/runs", ListAgentRunsAsync).Produces<IReadOnlyList<RunRecordDto>>();
        api.MapGet("/runs", (ApiaryRuntime runtime) => Results.Json<IReadOnlyList<RunDto>>(runtime.Runs.AgentRuns.Select(r => r.ToDto()).ToList(), ApiJsonContext.Default.IReadOnlyListRunDto))
            .Produces<IReadOnlyList<RunDto>>();
        api.MapGet("/runs/{id}", (string id, ApiaryRuntime runtime) => runtime.Runs.FindAgentRun(id) is { } run
            ? Results.Json(run.ToDto(), ApiJsonContext.Default.RunDto)
            : UnknownRun(id)).Produces<RunDto>();
        api.MapGet("/runs/{id}/progress", StreamProgressAsync).Produces(200, contentType: "text/event-stream");
    }

    private static async Task<IResult> StartRunAsync(string name, HttpContext context, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        var (request, problem) = await JsonBody.ReadAsync(context, ApiJsonContext.Default.StartRunRequest).ConfigureAwait(false);
        if (request is null)
        {
            return problem!;
        }

        var run = await runtime.Runs.StartRunAsync(name, request, context.Grant().Who, cancellationToken).ConfigureAwait(false);
        context.Response.Headers.Location = $"/api/runs/{run.Id}";
        return Results.Json(run.ToDto(), ApiJsonContext.Default.RunDto, statusCode: 201);
    }

    /// <summary>The runs of agent <paramref name="name"/> the log records, newest first, at most <paramref name="limit"/> (default 50).</summary>
    private static async Task<IResult> ListAgentRunsAsync(string name, string? limit, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        if (!Apiary.Agents.AgentName.TryCreate(name, out var agentName, out var error))
        {
            return Problems.BadRequest($"'{name}' is not a valid agent name: {error.Message}");
        }

        var most = 50;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out most) || most is < 1 or > RunHistory.MaxRuns))
        {
            return Problems.BadRequest($"'limit' must be a whole number from 1 to {RunHistory.MaxRuns}, not '{limit}'");
        }

        if (await runtime.Catalog.LoadAsync(agentName, cancellationToken: cancellationToken).ConfigureAwait(false) is null)
        {
            return UnknownAgent(runtime, name);
        }

        var runs = await RunHistory.ReadAsync(runtime.Store, runtime.Runs, agentName.Value, most, cancellationToken).ConfigureAwait(false);
        return Results.Json(runs, ApiJsonContext.Default.IReadOnlyListRunRecordDto);
    }

    /// <summary>A run's steps as server-sent events, from the start, live, ending with <c>end</c>.</summary>
    private static async Task StreamProgressAsync(string id, HttpContext context, ApiaryRuntime runtime)
    {
        if (runtime.Runs.FindAgentRun(id) is not { } run)
        {
            await UnknownRun(id).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        await StreamReplayAsync(context, runtime, run.ReadProgressAsync, step => (step.Type, JsonSerializer.Serialize(step, ApiJsonContext.Default.RunProgressDto))).ConfigureAwait(false);
    }

    private static IResult UnknownRun(string id) =>
        Problems.NotFound("run", $"there is no run '{id}' running or just ended on this server; GET /api/runs lists those, and GET /api/agents/NAME/runs every run of an agent, from the event log");
}
