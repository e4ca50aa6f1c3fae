using System.Text.Json;
using System.Text.Json.Serialization;

namespace Apiary.Contracts;

/// <summary>The JSON of the API and the server-info file: snake_case, nulls left out, a number only as a JSON number (<c>"10"</c> is refused, not read as 10).</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.Strict)]
[JsonSerializable(typeof(AgentDto))]
[JsonSerializable(typeof(IReadOnlyList<ToolDescriptor>))]
[JsonSerializable(typeof(IReadOnlyList<AgentDto>))]
[JsonSerializable(typeof(AgentDetailDto))]
[JsonSerializable(typeof(AgentListingDto))]
[JsonSerializable(typeof(CreateAgentRequest))]
[JsonSerializable(typeof(SessionDto))]
[JsonSerializable(typeof(IReadOnlyList<SessionDto>))]
[JsonSerializable(typeof(OpenSessionRequest))]
[JsonSerializable(typeof(OpenSessionResponse))]
[JsonSerializable(typeof(ProposalRequest))]
[JsonSerializable(typeof(ProposalDto))]
[JsonSerializable(typeof(ResultDto))]
[JsonSerializable(typeof(TicketDto))]
[JsonSerializable(typeof(IReadOnlyList<TicketDto>))]
[JsonSerializable(typeof(ApproveRequest))]
[JsonSerializable(typeof(DenyRequest))]
[JsonSerializable(typeof(TicketAnswerDto))]
[JsonSerializable(typeof(KillSwitchDto))]
[JsonSerializable(typeof(IReadOnlyList<KillSwitchDto>))]
[JsonSerializable(typeof(KillSwitchRequest))]
[JsonSerializable(typeof(EventDto))]
[JsonSerializable(typeof(IReadOnlyList<EventDto>))]
[JsonSerializable(typeof(AuditVerifyDto))]
[JsonSerializable(typeof(ReadinessDto))]
[JsonSerializable(typeof(StartRunRequest))]
[JsonSerializable(typeof(RunDto))]
[JsonSerializable(typeof(IReadOnlyList<RunDto>))]
[JsonSerializable(typeof(RunProgressDto))]
[JsonSerializable(typeof(SendMessageRequest))]
[JsonSerializable(typeof(MessageDto))]
[JsonSerializable(typeof(SendMessageResponse))]
[JsonSerializable(typeof(InboxDto))]
[JsonSerializable(typeof(AckRequest))]
[JsonSerializable(typeof(AskRequest))]
[JsonSerializable(typeof(AskResponse))]
[JsonSerializable(typeof(ServerInfo))]
[JsonSerializable(typeof(AgentStatsDto))]
[JsonSerializable(typeof(IReadOnlyList<RunRecordDto>))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
