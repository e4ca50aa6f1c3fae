using System.Text.Json;
using Apiary.Events;

namespace Apiary.Server.Tests;

/// <summary>Waits for events of a running server's log: from the start, then live, with no polling and no sleeping.</summary>
internal static class LogWaiter
{
    /// <summary>The first event of the log (from its start) that <paramref name="match"/> accepts; fails after 30 s without one.</summary>
    public static async Task<RecordedEvent> WaitForEventAsync(this ApiaryRuntime runtime, Func<RecordedEvent, bool> match, string what)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        using var subscription = runtime.Feed.Subscribe(1, 1 << 20);
        try
        {
            await foreach (var e in subscription.ReadAllAsync(timeout.Token))
            {
                if (match(e))
                {
                    return e;
                }
            }
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            // Reported below.
        }

        throw new TimeoutException($"no event came within 30 s: {what}");
    }

    /// <summary>The first event of <paramref name="type"/> whose data has every field of <paramref name="fields"/> (as strings).</summary>
    public static Task<RecordedEvent> WaitForEventAsync(this ApiaryRuntime runtime, string type, params (string Field, string Value)[] fields) =>
        runtime.WaitForEventAsync(
            e => e.Type == type && fields.All(f => Field(e, f.Field) == f.Value),
            $"{type} with {string.Join(", ", fields.Select(f => $"{f.Field}={f.Value}"))}");

    /// <summary>A field of an event's data, as text (numbers and booleans as JSON writes them); null when absent.</summary>
    public static string? Field(RecordedEvent e, string field)
    {
        using var json = JsonDocument.Parse(e.Data);
        return json.RootElement.TryGetProperty(field, out var value)
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText()
            : null;
    }

    /// <summary>Every event of the log so far that <paramref name="match"/> accepts.</summary>
    public static async Task<List<RecordedEvent>> EventsAsync(this ApiaryRuntime runtime, Func<RecordedEvent, bool> match)
    {
        var found = new List<RecordedEvent>();
        await foreach (var e in runtime.Store.ReadAllAsync(1, TestContext.Current.CancellationToken))
        {
            if (match(e))
            {
                found.Add(e);
            }
        }

        return found;
    }
}
