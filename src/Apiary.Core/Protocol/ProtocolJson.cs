using System.Text.Json.Serialization;

namespace Apiary.Protocol;

/// <summary>The protocol's version and wire names.</summary>
public static class ProtocolInfo
{
    /// <summary>The version this build speaks; a peer that announces another is refused.</summary>
    public const int Version = 1;
}

/// <summary>The JSON shape of every command and observation: snake_case fields, a <c>type</c> discriminator.</summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    AllowOutOfOrderMetadataProperties = true)]
[JsonSerializable(typeof(Command))]
[JsonSerializable(typeof(Observation))]
public sealed partial class ProtocolJsonContext : JsonSerializerContext;
