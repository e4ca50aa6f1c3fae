using Microsoft.Extensions.AI;

namespace Apiary.Models;

/// <summary>
/// Finds the chat client for an agent's <c>model</c> setting (<c>endpoint/model</c>, or null for the home's default),
/// as configured in the home's <c>models.yaml</c>.
/// </summary>
public interface IModelCatalog
{
    /// <summary>The model <paramref name="modelReference"/> names, ready to call.</summary>
    /// <exception cref="ModelConfigurationException">
    /// Nothing is configured, the endpoint is unknown, or its key is missing: the message says exactly what to configure.
    /// </exception>
    ModelBinding Resolve(string? modelReference);
}

/// <summary>A configured model: where it is, what it is called there, a client for it, and its price if known.</summary>
/// <param name="Endpoint">The endpoint's name in <c>models.yaml</c>.</param>
/// <param name="Model">The model's name at that endpoint.</param>
/// <param name="Client">The client; tool calling and streaming work through it.</param>
/// <param name="Price">The price per million tokens, or null when <c>models.yaml</c> has none (budgets then count tokens only).</param>
public sealed record ModelBinding(string Endpoint, string Model, IChatClient Client, ModelPrice? Price)
{
    /// <summary><c>endpoint/model</c>.</summary>
    public string Reference => $"{Endpoint}/{Model}";
}

/// <summary>US dollars per million input and output tokens.</summary>
/// <param name="InputPerMillion">Per million input (prompt) tokens.</param>
/// <param name="OutputPerMillion">Per million output (completion) tokens.</param>
public sealed record ModelPrice(decimal InputPerMillion, decimal OutputPerMillion)
{
    /// <summary>What <paramref name="inputTokens"/> and <paramref name="outputTokens"/> cost.</summary>
    public decimal Cost(long inputTokens, long outputTokens) =>
        ((inputTokens * InputPerMillion) + (outputTokens * OutputPerMillion)) / 1_000_000m;
}

/// <summary>The models configuration is missing or wrong; the message says what to configure and where.</summary>
public sealed class ModelConfigurationException(string message) : ApiaryException(message);
