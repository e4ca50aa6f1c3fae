using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Apiary.Events;

namespace Apiary.Secrets;

/// <summary>
/// Keeps secrets out of the event log: every event's data and body is searched, as it is appended, for every form of
/// every secret the <see cref="SecretCatalog"/> holds, and each is replaced with <c>[secret:NAME]</c>. JSON is searched
/// value by value once decoded, so an escaped character cannot hide a value. Whatever path a value took (an output no
/// scrubber knew, a message an agent wrote, a model's reply), the record holds only the secret's name.
/// </summary>
public sealed class EventRedaction(Func<SecretRedactor> redactor)
{
    /// <summary>The event with every secret replaced; the same instance when it holds none.</summary>
    public EventData Redact(EventData e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var current = redactor();
        if (current.IsEmpty)
        {
            return e;
        }

        var data = Redact(current, e.Data);
        var body = e.Body is { } raw ? Redact(current, raw) : (ReadOnlyMemory<byte>?)null;
        return data.Equals(e.Data) && Nullable.Equals(body, e.Body) ? e : e with { Data = data, Body = body };
    }

    private static ReadOnlyMemory<byte> Redact(SecretRedactor redactor, ReadOnlyMemory<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return bytes;
        }

        var text = Encoding.UTF8.GetString(bytes.Span);

        // Plain text, or JSON with no escapes, holds each value exactly as written: a search of the text finds it.
        var json = text.Length > 0 && text[0] is '{' or '[';
        if (!json || !text.Contains('\\', StringComparison.Ordinal))
        {
            return redactor.Find(text) is null ? bytes : Encoding.UTF8.GetBytes(redactor.Redact(text));
        }

        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return redactor.Find(text) is null ? bytes : Encoding.UTF8.GetBytes(redactor.Redact(text));
        }

        return node is not null && Walk(redactor, node) ? Encoding.UTF8.GetBytes(node.ToJsonString()) : bytes;
    }

    /// <summary>Redacts every string in <paramref name="node"/> in place; true when any changed.</summary>
    private static bool Walk(SecretRedactor redactor, JsonNode node)
    {
        var changed = false;
        switch (node)
        {
            case JsonObject obj:
                foreach (var (key, child) in obj.ToList())
                {
                    if (child is JsonValue value && value.TryGetValue<string>(out var s))
                    {
                        var redacted = redactor.Redact(s);
                        if (!ReferenceEquals(redacted, s) && redacted != s)
                        {
                            obj[key] = redacted;
                            changed = true;
                        }
                    }
                    else if (child is not null)
                    {
                        changed |= Walk(redactor, child);
                    }
                }

                break;
            case JsonArray array:
                for (var i = 0; i < array.Count; i++)
                {
                    if (array[i] is JsonValue value && value.TryGetValue<string>(out var s))
                    {
                        var redacted = redactor.Redact(s);
                        if (redacted != s)
                        {
                            array[i] = redacted;
                            changed = true;
                        }
                    }
                    else if (array[i] is { } child)
                    {
                        changed |= Walk(redactor, child);
                    }
                }

                break;
        }

        return changed;
    }
}
