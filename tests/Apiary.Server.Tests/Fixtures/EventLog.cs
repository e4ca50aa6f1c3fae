using Apiary.Events;
using Apiary.Storage.Sqlite;

namespace Apiary.Server.Tests;

/// <summary>A home's event log read whole: from a store, or from its SQLite file (with its server stopped, or beside it).</summary>
internal static class EventLog
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Every event of the log in the SQLite file at <paramref name="storePath"/>, from the first.</summary>
    public static async Task<List<RecordedEvent>> ReadFileAsync(string storePath)
    {
        await using var store = await SqliteEventStore.OpenAsync(storePath, cancellationToken: Ct);
        return await ReadAllAsync(store);
    }

    /// <summary>Every event of <paramref name="store"/>, from the first.</summary>
    public static async Task<List<RecordedEvent>> ReadAllAsync(IEventStore store)
    {
        var events = new List<RecordedEvent>();
        await foreach (var e in store.ReadAllAsync(1, Ct))
        {
            events.Add(e);
        }

        return events;
    }
}
