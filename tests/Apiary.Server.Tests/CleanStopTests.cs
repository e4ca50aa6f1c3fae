using Apiary.Storage.Sqlite;

namespace Apiary.Server.Tests;

/// <summary>A clean stop leaves a complete record: every session it closes is closed on the record, saying who closed it.</summary>
public sealed class CleanStopTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task ServerStopsCleanly_AnOpenSessionIsRecordedClosedByTheServer()
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();
        var store = t.Server.StorePath;

        await t.Server.DisposeAsync();

        await using var log = await SqliteEventStore.OpenAsync(store, cancellationToken: Ct);
        var closed = new List<string>();
        await foreach (var e in log.ReadStreamAsync("session-" + session.Session.Id, cancellationToken: Ct))
        {
            if (e.Type == "session.closed")
            {
                using var data = System.Text.Json.JsonDocument.Parse(e.Data);
                closed.Add(data.RootElement.GetProperty("by").GetString()!);
            }
        }

        Assert.Equal(["apiary server (stopped)"], closed);
    }
}
