using System.Text.Json.Serialization;

namespace Apiary.Server;

/// <summary>The <c>data</c> of a <c>dropped</c> event: why the stream ended and where to resume.</summary>
internal sealed record DroppedDto(string Reason, long? LastId);

/// <summary><c>GET /healthz</c>.</summary>
internal sealed record HealthDto(string Status);

/// <summary>The server's own wire shapes that are not part of the client contract.</summary>
[JsonSourceGenerationOptions(
    System.Text.Json.JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(OutputChunk))]
[JsonSerializable(typeof(DroppedDto))]
[JsonSerializable(typeof(HealthDto))]
internal sealed partial class ServerJsonContext : JsonSerializerContext;
