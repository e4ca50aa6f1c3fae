using System.Buffers;
using System.Text.Json;
using System.Text.Json.Serialization;
using Apiary.IO;

namespace Apiary.Agents;

/// <summary>The fact that an agent completed its first session, after which BOOTSTRAP.md is no longer injected.</summary>
/// <param name="SessionId">The session that completed.</param>
/// <param name="CompletedAt">When it completed.</param>
public sealed record BootstrapRecord(
    // Written even if null, as the record's own context wrote it before it joined CoreJsonContext (which leaves nulls out).
    [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string SessionId,
    DateTimeOffset CompletedAt)
{
    /// <summary>Where, inside an agent's folder, the record is kept until the event store takes it over.</summary>
    public const string RelativePath = ".state/bootstrap.json";

    /// <summary>Reads the record of the agent in <paramref name="agentDirectory"/>, or null if it has none.</summary>
    /// <exception cref="ApiaryException">The record exists but is unreadable, so whether BOOTSTRAP.md applies is unknown.</exception>
    public static async Task<BootstrapRecord?> ReadAsync(string agentDirectory, CancellationToken cancellationToken = default)
    {
        var path = Path.Combine(agentDirectory, RelativePath);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            await using var stream = File.OpenRead(path);
            return await JsonSerializer.DeserializeAsync(stream, CoreJsonContext.Default.BootstrapRecord, cancellationToken).ConfigureAwait(false)
                ?? throw new JsonException("the file holds null");
        }
        catch (JsonException ex)
        {
            throw new ApiaryException($"{path} is corrupt ({ex.Message}); delete it to inject BOOTSTRAP.md again, or fix it", ex);
        }
    }

    /// <summary>Records that the agent in <paramref name="agentDirectory"/> completed <paramref name="sessionId"/>, unless it already has a record.</summary>
    /// <returns>The record in force: the earlier one if there was one.</returns>
    public static async Task<BootstrapRecord> MarkAsync(string agentDirectory, string sessionId, DateTimeOffset completedAt, CancellationToken cancellationToken = default)
    {
        if (await ReadAsync(agentDirectory, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            return existing;
        }

        var record = new BootstrapRecord(sessionId, completedAt);
        var path = Path.Combine(agentDirectory, RelativePath);
        OwnerOnly.CreateDirectory(Path.GetDirectoryName(path)!);

        // Written beside and renamed into place, so a crash never leaves a half-written record.
        await OwnerOnly.WriteAllBytesAsync(path, ToIndentedJson(record), cancellationToken: cancellationToken).ConfigureAwait(false);
        return record;
    }

    /// <summary>
    /// The record as the file holds it: indented, for a person who opens it. The writer indents, not the options, so the
    /// record shares <see cref="CoreJsonContext"/> with the events (whose JSON is compact).
    /// </summary>
    private static byte[] ToIndentedJson(BootstrapRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            JsonSerializer.Serialize(writer, record, CoreJsonContext.Default.BootstrapRecord);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Removes the record, so BOOTSTRAP.md is injected again until the next completed session.</summary>
    /// <returns>True when there was a record.</returns>
    public static bool Reset(string agentDirectory)
    {
        var path = Path.Combine(agentDirectory, RelativePath);
        if (!File.Exists(path))
        {
            return false;
        }

        File.Delete(path);
        return true;
    }
}
