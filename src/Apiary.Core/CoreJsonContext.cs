using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Apiary.Agents;
using Apiary.Events;
using Apiary.Governance.Pipeline;

namespace Apiary;

/// <summary>
/// The JSON of Apiary.Core's own records: the pipeline's and the audit's events, <c>keys/audit-head.json</c> and an
/// agent's bootstrap record. Snake_case fields, nulls left out. Event payloads are hash-chained, so these options are
/// part of the log's format: a change here changes the bytes every new event is written in.
/// </summary>
/// <remarks>
/// The sandbox protocol keeps a context of its own (<see cref="Protocol.ProtocolJsonContext"/>): it is public, the wire
/// contract with sandbox endpoints, and reads its <c>type</c> discriminator wherever it stands (out-of-order metadata),
/// which these records must not.
/// </remarks>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(DecisionRecord))]
[JsonSerializable(typeof(ApprovalRequestedData))]
[JsonSerializable(typeof(ApprovalGrantedData))]
[JsonSerializable(typeof(ApprovalDeniedData))]
[JsonSerializable(typeof(ApprovalExpiredData))]
[JsonSerializable(typeof(ApprovalConsumedData))]
[JsonSerializable(typeof(ProposalCompletedData))]
[JsonSerializable(typeof(ProposalAbandonedData))]
[JsonSerializable(typeof(KillSwitchData))]
[JsonSerializable(typeof(BudgetSettledData))]
[JsonSerializable(typeof(AuditCheckpoint))]
[JsonSerializable(typeof(BodiesPurgedData))]
[JsonSerializable(typeof(DamageAcceptedData))]
[JsonSerializable(typeof(AuditProblemKind))]
[JsonSerializable(typeof(BootstrapRecord))]
internal sealed partial class CoreJsonContext : JsonSerializerContext
{
    /// <summary>An event of <paramref name="type"/> whose data is <paramref name="data"/> as JSON.</summary>
    public static EventData Event<T>(string type, T data, JsonTypeInfo<T> info, ReadOnlyMemory<byte>? body = null) =>
        new(type, JsonSerializer.SerializeToUtf8Bytes(data, info), body);

    /// <summary>The data of <paramref name="e"/>.</summary>
    /// <exception cref="EventStoreException">The event has no data.</exception>
    public static T Read<T>(RecordedEvent e, JsonTypeInfo<T> info) =>
        JsonSerializer.Deserialize(e.Data.Span, info)
        ?? throw new EventStoreException($"event {e.Position} ({e.Type}) has no data");
}
