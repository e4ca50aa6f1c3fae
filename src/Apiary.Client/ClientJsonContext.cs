using System.Text.Json;
using System.Text.Json.Serialization;
using Apiary.Contracts;

namespace Apiary.Client;

/// <summary>An RFC 9457 problem, as the server sends it with <c>application/problem+json</c>.</summary>
internal sealed record ProblemDetailsDto(string? Type, string? Title, string? Detail, int? Status);

/// <summary>The data of an <c>output</c> event of <c>GET /api/proposals/{id}/output</c>.</summary>
internal sealed record OutputChunkDto(string Stream, string Text);

/// <summary>Shapes only the client reads, with the same conventions as <see cref="ApiJsonContext"/>.</summary>
[JsonSourceGenerationOptions(
    JsonSerializerDefaults.Web,
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ProblemDetailsDto))]
[JsonSerializable(typeof(OutputChunkDto))]
internal sealed partial class ClientJsonContext : JsonSerializerContext;
