using System.Globalization;
using Apiary.Agents;
using Apiary.Runtime.Telemetry;
using Apiary.Text;

namespace Apiary.Server;

// An agent's per-turn telemetry over a window, folded from its turn.completed events (docs/runs.md, Telemetry).
internal static partial class ApiEndpoints
{
    /// <summary>The window when the request names none.</summary>
    private static readonly TimeSpan DefaultStatsWindow = TimeSpan.FromHours(24);

    private static async Task<IResult> AgentStatsAsync(string name, string? since, ApiaryRuntime runtime, CancellationToken cancellationToken)
    {
        if (!AgentName.TryCreate(name, out var agentName, out var error))
        {
            return Problems.BadRequest($"'{name}' is not a valid agent name: {error.Message}");
        }

        var until = runtime.Time.GetUtcNow();
        if (StatsWindowStart(since, until) is not { } start)
        {
            return Problems.BadRequest($"'since' must be an ISO-8601 instant (such as 2026-01-31T09:00:00Z) or a duration back from now (such as 15m, 24h or 7d; units d, h, m, s, ms), not '{since}'; without it the window is the last 24h");
        }

        if (await runtime.Catalog.LoadAsync(agentName, cancellationToken: cancellationToken).ConfigureAwait(false) is null)
        {
            return UnknownAgent(runtime, name);
        }

        var stats = await AgentStats.ReadAsync(runtime.Store, agentName.Value, start, cancellationToken).ConfigureAwait(false);
        var depth = await AgentStats.InboxDepthAsync(runtime, agentName.Value, cancellationToken).ConfigureAwait(false);
        return Results.Json(stats.ToDto(until, depth), ApiJsonContext.Default.AgentStatsDto);
    }

    /// <summary>The start of the window <paramref name="since"/> names (a duration back from <paramref name="now"/>, or an instant); null when it names none.</summary>
    private static DateTimeOffset? StatsWindowStart(string? since, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(since))
        {
            return now - DefaultStatsWindow;
        }

        if (DurationText.TryParse(since, out var back))
        {
            return back <= now - DateTimeOffset.MinValue ? now - back : DateTimeOffset.MinValue;
        }

        return DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var instant) ? instant : null;
    }
}
