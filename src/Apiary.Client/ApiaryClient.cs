using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Apiary.Home;
using Apiary.Contracts;

namespace Apiary.Client;

/// <summary>
/// A typed client for the API of a running Apiary server (<c>apiary up</c>). Each method is one route; answers that
/// are not a success throw <see cref="ApiaryClientException"/> with the server's problem detail.
/// </summary>
/// <remarks>
/// The client does not own an <see cref="HttpClient"/> given to its constructor. One made by
/// <see cref="ConnectAsync"/> is owned, and disposed with the client.
/// </remarks>
public sealed partial class ApiaryClient : IDisposable
{
    /// <summary>How long <see cref="ConnectAsync"/> waits for the server's liveness answer.</summary>
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    private readonly HttpClient _http;
    private readonly string _token;
    private readonly bool _ownsHttp;
    private readonly TimeProvider _time;

    /// <summary>Creates a client sending <paramref name="token"/> as its bearer token through <paramref name="http"/>, whose base address is the server's URL.</summary>
    /// <param name="http">The HTTP client; its <see cref="HttpClient.BaseAddress"/> must be set. Streams need its timeout to be infinite.</param>
    /// <param name="token">An operator, session or read-only token.</param>
    /// <param name="timeProvider">The clock for reconnect delays; the system's by default.</param>
    public ApiaryClient(HttpClient http, string token, TimeProvider? timeProvider = null)
        : this(http, token, ownsHttp: false, timeProvider)
    {
    }

    private ApiaryClient(HttpClient http, string token, bool ownsHttp, TimeProvider? timeProvider)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentException.ThrowIfNullOrWhiteSpace(token);
        if (http.BaseAddress is null)
        {
            throw new ArgumentException("the HttpClient needs a BaseAddress: the server's URL", nameof(http));
        }

        _http = http;
        _token = token.Trim();
        _ownsHttp = ownsHttp;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The server's URL.</summary>
    public Uri BaseAddress => _http.BaseAddress!;

    /// <summary>
    /// Connects to the server running for <paramref name="home"/>: reads its URL from <c>run/server.json</c> and the
    /// operator token from <c>keys/operator.token</c>, and checks that it answers.
    /// </summary>
    /// <exception cref="ApiaryClientException">No server is running for the home, or it does not answer.</exception>
    public static async Task<ApiaryClient> ConnectAsync(ApiaryHome home, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(home);
        var start = $"start one with 'apiary up --home {home.Root}'";
        var info = await ServerInfo.ReadAsync(home, cancellationToken).ConfigureAwait(false)
            ?? throw new ApiaryClientException($"no Apiary server is running for home {home.Root}; {start}");
        var tokenPath = Path.Combine(home.Root, ServerInfo.OperatorTokenPath);
        string token;
        try
        {
            token = (await File.ReadAllTextAsync(tokenPath, cancellationToken).ConfigureAwait(false)).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ApiaryClientException($"cannot read the operator token {tokenPath} ({ex.Message}); is the server of home {home.Root} running? {Capital(start)}", ex);
        }

        if (!Uri.TryCreate(info.Url.EndsWith('/') ? info.Url : info.Url + "/", UriKind.Absolute, out var url))
        {
            throw new ApiaryClientException($"{ServerInfo.PathIn(home)} names '{info.Url}', which is not a URL; {start}");
        }

#pragma warning disable CA2000 // Owned by the client, which disposes it.
        var http = new HttpClient { BaseAddress = url, Timeout = Timeout.InfiniteTimeSpan };
#pragma warning restore CA2000
        var client = new ApiaryClient(http, token, ownsHttp: true, timeProvider: null);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(ConnectTimeout);
            using var response = await http.GetAsync(new Uri("healthz", UriKind.Relative), timeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"/healthz answered {(int)response.StatusCode}");
            }

            return client;
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            client.Dispose();
            throw new ApiaryClientException($"no Apiary server is running for home {home.Root} (the server at {info.Url} does not answer: {ex.Message}); {start}", ex);
        }
    }

    /// <summary>A client for the same server that acts with <paramref name="token"/> (a session token, say); it shares this client's connection and must not outlive it.</summary>
    public ApiaryClient WithToken(string token) => new(_http, token, ownsHttp: false, _time);

    // Agents

    /// <summary><c>GET /api/agents</c>: the agents of the home.</summary>
    public Task<IReadOnlyList<AgentDto>> ListAgentsAsync(CancellationToken cancellationToken = default) =>
        GetAsync("api/agents", ApiJsonContext.Default.IReadOnlyListAgentDto, cancellationToken);

    /// <summary><c>GET /api/tools</c>: every tool the runs offer their models, with its schema; <c>external</c> ones are what <c>apiary mcp</c> offers.</summary>
    public Task<IReadOnlyList<ToolDescriptor>> ListToolsAsync(CancellationToken cancellationToken = default) =>
        GetAsync("api/tools", ApiJsonContext.Default.IReadOnlyListToolDescriptor, cancellationToken);

    /// <summary><c>GET /api/agents?findings=true</c>: the agents of the home, and what is wrong with the agents folder itself.</summary>
    public Task<AgentListingDto> ListAgentsWithFindingsAsync(CancellationToken cancellationToken = default) =>
        GetAsync("api/agents?findings=true", ApiJsonContext.Default.AgentListingDto, cancellationToken);

    /// <summary><c>GET /api/agents/{name}</c>: one agent in detail.</summary>
    public Task<AgentDetailDto> GetAgentAsync(string name, CancellationToken cancellationToken = default) =>
        GetAgentAsync(name, null, null, null, null, cancellationToken);

    /// <summary>
    /// <c>GET /api/agents/{name}?model=&amp;tool_profile=&amp;template=&amp;workspace=</c>: one agent in detail, with its
    /// settings as they would be with these overrides (each null for none).
    /// </summary>
    public Task<AgentDetailDto> GetAgentAsync(string name, string? model, string? toolProfile, string? template, string? workspace, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var query = new List<string>();
        EventFilter.Add(query, "model", model);
        EventFilter.Add(query, "tool_profile", toolProfile);
        EventFilter.Add(query, "template", template);
        EventFilter.Add(query, "workspace", workspace);
        return GetAsync($"api/agents/{Escape(name)}" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), ApiJsonContext.Default.AgentDetailDto, cancellationToken);
    }

    /// <summary>
    /// <c>GET /api/agents/{name}/stats?since=</c>: the agent's per-turn figures since <paramref name="since"/> (an ISO-8601
    /// instant, or a duration back from now such as <c>15m</c>, <c>24h</c> or <c>7d</c>; the last 24 hours when null).
    /// </summary>
    public Task<AgentStatsDto> GetAgentStatsAsync(string name, string? since = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return GetAsync($"api/agents/{Escape(name)}/stats" + (since is null ? "" : "?since=" + Escape(since)), ApiJsonContext.Default.AgentStatsDto, cancellationToken);
    }

    /// <summary><c>POST /api/agents</c>: creates an agent folder with its files and workspace, as <c>apiary agents new</c> does.</summary>
    public Task<AgentDetailDto> CreateAgentAsync(CreateAgentRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return PostAsync("api/agents", request, ApiJsonContext.Default.CreateAgentRequest, ApiJsonContext.Default.AgentDetailDto, cancellationToken);
    }

    // Sessions

    /// <summary><c>POST /api/sessions</c>: opens a session for <paramref name="agent"/>; the answer holds a token limited to it.</summary>
    public Task<OpenSessionResponse> OpenSessionAsync(string agent, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(agent);
        return PostAsync("api/sessions", new OpenSessionRequest(agent), ApiJsonContext.Default.OpenSessionRequest, ApiJsonContext.Default.OpenSessionResponse, cancellationToken);
    }

    /// <summary><c>POST /api/sessions</c>: opens a session as <paramref name="request"/> asks (an agent, or <c>operator</c>; optionally another workspace or template).</summary>
    public Task<OpenSessionResponse> OpenSessionAsync(OpenSessionRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Agent, nameof(request));
        return PostAsync("api/sessions", request, ApiJsonContext.Default.OpenSessionRequest, ApiJsonContext.Default.OpenSessionResponse, cancellationToken);
    }

    /// <summary><c>GET /api/sessions/{id}</c>.</summary>
    public Task<SessionDto> GetSessionAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sessionId);
        return GetAsync($"api/sessions/{Escape(sessionId)}", ApiJsonContext.Default.SessionDto, cancellationToken);
    }

    /// <summary><c>POST /api/sessions/{id}/close</c>: closes the session; its running commands are cancelled.</summary>
    public async Task CloseSessionAsync(string sessionId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sessionId);
        using var request = Request(HttpMethod.Post, $"api/sessions/{Escape(sessionId)}/close");
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    // Proposals

    /// <summary>
    /// <c>POST /api/sessions/{id}/proposals</c>: submits a tool call to governance. With <paramref name="wait"/>, an
    /// allowed proposal is answered once it completed; otherwise as soon as it was decided (status <c>running</c>).
    /// A denial or a pending approval is an answer, not an exception.
    /// </summary>
    public Task<ProposalDto> ProposeAsync(string sessionId, ProposalRequest proposal, bool wait = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(sessionId);
        ArgumentNullException.ThrowIfNull(proposal);
        var path = $"api/sessions/{Escape(sessionId)}/proposals" + (wait ? "?wait=true" : "");
        return PostAsync(path, proposal, ApiJsonContext.Default.ProposalRequest, ApiJsonContext.Default.ProposalDto, cancellationToken);
    }

    /// <summary><c>GET /api/proposals/{id}</c>: a proposal with its latest decision and, once completed, its result.</summary>
    public Task<ProposalDto> GetProposalAsync(string proposalId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(proposalId);
        return GetAsync($"api/proposals/{Escape(proposalId)}", ApiJsonContext.Default.ProposalDto, cancellationToken);
    }

    /// <summary><c>GET /api/proposals/{id}/explain</c>: the latest recorded decision on a proposal, as the event log holds it (JSON).</summary>
    public async Task<JsonElement> ExplainAsync(string proposalId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(proposalId);
        using var request = Request(HttpMethod.Get, $"api/proposals/{Escape(proposalId)}/explain");
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var document = JsonDocument.Parse(text);
            return document.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new ApiaryClientException($"the server's explanation of proposal {proposalId} is not JSON ({ex.Message})", ex);
        }
    }

    // Approvals

    /// <summary><c>GET /api/approvals</c>: the open approval tickets.</summary>
    public Task<IReadOnlyList<TicketDto>> ListApprovalsAsync(CancellationToken cancellationToken = default) =>
        GetAsync("api/approvals", ApiJsonContext.Default.IReadOnlyListTicketDto, cancellationToken);

    /// <summary><c>POST /api/approvals/{ticket}/approve</c>; with <paramref name="forSession"/>, the rule's later proposals in the session are let through too.</summary>
    public Task<TicketAnswerDto> ApproveAsync(string ticket, bool forSession = false, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ticket);
        return PostAsync($"api/approvals/{Escape(ticket)}/approve", new ApproveRequest(forSession), ApiJsonContext.Default.ApproveRequest, ApiJsonContext.Default.TicketAnswerDto, cancellationToken);
    }

    /// <summary><c>POST /api/approvals/{ticket}/deny</c>; the agent is told <paramref name="reason"/>.</summary>
    public Task<TicketAnswerDto> DenyAsync(string ticket, string reason, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(ticket);
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        return PostAsync($"api/approvals/{Escape(ticket)}/deny", new DenyRequest(reason), ApiJsonContext.Default.DenyRequest, ApiJsonContext.Default.TicketAnswerDto, cancellationToken);
    }

    // Kill switches

    /// <summary><c>GET /api/kill-switches</c>: the engaged kill switches.</summary>
    public Task<IReadOnlyList<KillSwitchDto>> ListKillSwitchesAsync(CancellationToken cancellationToken = default) =>
        GetAsync("api/kill-switches", ApiJsonContext.Default.IReadOnlyListKillSwitchDto, cancellationToken);

    /// <summary><c>POST /api/kill-switches</c>: engages a kill switch (a reason is required).</summary>
    public async Task EngageKillSwitchAsync(KillSwitchRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var message = Request(HttpMethod.Post, "api/kill-switches", JsonContent.Create(request, ApiJsonContext.Default.KillSwitchRequest));
        using var response = await SendAsync(message, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    /// <summary><c>POST /api/kill-switches/release</c>: releases the kill switch with the same scope.</summary>
    public async Task ReleaseKillSwitchAsync(KillSwitchRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var message = Request(HttpMethod.Post, "api/kill-switches/release", JsonContent.Create(request, ApiJsonContext.Default.KillSwitchRequest));
        using var response = await SendAsync(message, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
    }

    // Messaging

    /// <summary><c>POST /api/messages</c>: sends a message as the token's agent (or as the operator); the server sets the sender.</summary>
    public Task<SendMessageResponse> SendMessageAsync(SendMessageRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return PostAsync("api/messages", request, ApiJsonContext.Default.SendMessageRequest, ApiJsonContext.Default.SendMessageResponse, cancellationToken);
    }

    /// <summary><c>POST /api/messages/ask</c>: sends a question and waits until its deadline for the answer.</summary>
    public Task<AskResponse> AskAsync(AskRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        return PostAsync("api/messages/ask", request, ApiJsonContext.Default.AskRequest, ApiJsonContext.Default.AskResponse, cancellationToken);
    }

    /// <summary>
    /// <c>GET /api/inbox/{agent}</c>: the messages after <paramref name="after"/> (default: after the acknowledged
    /// cursor), waiting up to <paramref name="waitSeconds"/> for one when there is none.
    /// </summary>
    public Task<InboxDto> ReadInboxAsync(string agent, long? after = null, double? waitSeconds = null, int? max = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(agent);
        var query = new List<string>();
        if (after is { } a)
        {
            query.Add("after=" + a.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (waitSeconds is { } w)
        {
            query.Add("wait=" + w.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (max is { } m)
        {
            query.Add("max=" + m.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        return GetAsync($"api/inbox/{Escape(agent)}{(query.Count == 0 ? "" : "?" + string.Join('&', query))}", ApiJsonContext.Default.InboxDto, cancellationToken);
    }

    /// <summary><c>POST /api/inbox/{agent}/ack</c>: acknowledges the inbox through sequence number <paramref name="through"/>.</summary>
    public Task<InboxDto> AckInboxAsync(string agent, long through, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(agent);
        return PostAsync($"api/inbox/{Escape(agent)}/ack", new AckRequest(through), ApiJsonContext.Default.AckRequest, ApiJsonContext.Default.InboxDto, cancellationToken);
    }

    // Audit and health

    /// <summary><c>GET /api/audit/verify</c>: verifies the event log's hash chain.</summary>
    public Task<AuditVerifyDto> VerifyAuditAsync(CancellationToken cancellationToken = default) =>
        GetAsync("api/audit/verify", ApiJsonContext.Default.AuditVerifyDto, cancellationToken);

    /// <summary><c>GET /readyz</c>: whether the server is ready, and each check; a not-ready server is an answer, not an exception.</summary>
    public async Task<ReadinessDto> GetReadinessAsync(CancellationToken cancellationToken = default)
    {
        using var request = Request(HttpMethod.Get, "readyz");
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is not (HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable))
        {
            throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
        }

        return await ReadAsync(response, ApiJsonContext.Default.ReadinessDto, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    // Runs

    /// <summary><c>POST /api/agents/{name}/runs</c>: starts agent <paramref name="agent"/> on a task; the run goes on in the server.</summary>
    public Task<RunDto> StartRunAsync(string agent, StartRunRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(agent);
        ArgumentNullException.ThrowIfNull(request);
        return PostAsync($"api/agents/{Escape(agent)}/runs", request, ApiJsonContext.Default.StartRunRequest, ApiJsonContext.Default.RunDto, cancellationToken);
    }

    /// <summary><c>GET /api/agents/{name}/runs</c>: agent <paramref name="agent"/>'s runs as the event log records them, newest first, at most <paramref name="limit"/> (server default 50).</summary>
    public Task<IReadOnlyList<RunRecordDto>> ListAgentRunsAsync(string agent, int? limit = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(agent);
        return GetAsync(
            $"api/agents/{Escape(agent)}/runs" + (limit is { } most ? "?limit=" + most.ToString(System.Globalization.CultureInfo.InvariantCulture) : ""),
            ApiJsonContext.Default.IReadOnlyListRunRecordDto,
            cancellationToken);
    }

    /// <summary><c>GET /api/runs/{id}</c>: where a run stands.</summary>
    public Task<RunDto> GetRunAsync(string runId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(runId);
        return GetAsync($"api/runs/{Escape(runId)}", ApiJsonContext.Default.RunDto, cancellationToken);
    }

    /// <summary><c>GET /api/runs/{id}/progress</c>: the run's steps from the start, live, ending with its <c>end</c> step.</summary>
    public IAsyncEnumerable<RunProgressDto> StreamRunProgressAsync(string runId, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(runId);
        return StreamRunProgressCoreAsync(runId, cancellationToken);
    }

    private async IAsyncEnumerable<RunProgressDto> StreamRunProgressCoreAsync(string runId, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Get, $"api/runs/{Escape(runId)}/progress");
        request.Headers.Accept.ParseAdd("text/event-stream");
        using var response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await foreach (var item in System.Net.ServerSentEvents.SseParser.Create(stream).EnumerateAsync(cancellationToken).ConfigureAwait(false))
            {
                if (string.IsNullOrEmpty(item.Data))
                {
                    continue;
                }

                RunProgressDto step;
                try
                {
                    step = JsonSerializer.Deserialize(item.Data, ApiJsonContext.Default.RunProgressDto) ?? throw new JsonException("null");
                }
                catch (JsonException ex)
                {
                    throw new ApiaryClientException($"the server sent a progress step this client does not understand ({ex.Message}): {Shorten(item.Data)}", ex);
                }

                yield return step;
                if (step.Type == "end")
                {
                    yield break;
                }
            }
        }

        throw new ApiaryClientException($"the progress stream of run {runId} ended before the run did; 'GET /api/runs/{runId}' shows where it stands");
    }

    private async Task<T> GetAsync<T>(string path, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Get, path);
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, type, cancellationToken).ConfigureAwait(false);
    }

    private async Task<TResponse> PostAsync<TRequest, TResponse>(
        string path, TRequest body, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Post, path, JsonContent.Create(body, requestType));
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(response, responseType, cancellationToken).ConfigureAwait(false);
    }

    private HttpRequestMessage Request(HttpMethod method, string path, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, new Uri(path, UriKind.Relative)) { Content = content };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _token);
        return request;
    }

    /// <summary>Sends <paramref name="request"/>; an answer that is not a success becomes an <see cref="ApiaryClientException"/>, and so does no answer.</summary>
    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new ApiaryClientException($"the Apiary server at {BaseAddress} does not answer ({ex.Message}); is it still running?", ex);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<ApiaryClientException> ProblemAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        ProblemDetailsDto? problem = null;
        if (text.Length > 0 && response.Content.Headers.ContentType?.MediaType is { } media && media.EndsWith("json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                problem = JsonSerializer.Deserialize(text, ClientJsonContext.Default.ProblemDetailsDto);
            }
            catch (JsonException)
            {
                // Not a problem document after all: fall back to the raw text below.
            }
        }

        var detail = problem?.Detail ?? (problem is null && text.Length > 0 ? Shorten(text) : null);
        return new ApiaryClientException(response.StatusCode, problem?.Title ?? response.ReasonPhrase, detail);
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, JsonTypeInfo<T> type, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync(type, cancellationToken).ConfigureAwait(false)
                ?? throw new ApiaryClientException($"the server sent an empty answer to {response.RequestMessage?.RequestUri}");
        }
        catch (JsonException ex)
        {
            throw new ApiaryClientException($"the server's answer to {response.RequestMessage?.RequestUri} is not what this client understands ({ex.Message}); are the CLI and the server the same version?", ex);
        }
    }

    private static string Escape(string segment) => Uri.EscapeDataString(segment);

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";

    private static string Capital(string text) => char.ToUpperInvariant(text[0]) + text[1..];
}
