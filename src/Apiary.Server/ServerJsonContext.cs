using System.Text.Json.Serialization;

namespace Apiary.Server;

/// <summary>The <c>data</c> of a <c>dropped</c> event: why the stream ended and where to resume.</summary>
internal sealed record DroppedDto(string Reason, long? LastId);

/// <summary><c>GET /healthz</c>.</summary>
internal sealed record HealthDto(string Status);

/// <summary>
/// The server's own wire shapes that are not part of the client contract, and the base64 text an event's unreadable data
/// is shown as (a string is written the same under any of these options: only the encoder could change it).
/// </summary>
[JsonSourceGenerationOptions(
    System.Text.Json.JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(OutputChunk))]
[JsonSerializable(typeof(DroppedDto))]
[JsonSerializable(typeof(HealthDto))]
[JsonSerializable(typeof(string))]
internal sealed partial class ServerJsonContext : JsonSerializerContext;
