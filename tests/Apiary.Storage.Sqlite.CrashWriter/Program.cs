// The crash test's victim: appends to the store in args[0] from several writers until it is killed, printing the
// last position of each append once the store says it is committed. Each append is three events, so a half-written
// append would show as a stream whose length is not a multiple of three.
using System.Globalization;
using System.Text;
using Apiary.Events;
using Apiary.Storage.Sqlite;

await using var store = await SqliteEventStore.OpenAsync(args[0]);
var output = Console.Out;
var gate = new object();
var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
{
    for (var i = 0; ; i++)
    {
        var data = Encoding.UTF8.GetBytes($"{{\"writer\":{w},\"i\":{i}}}");
        var result = await store.AppendAsync(
            $"agent-{w}",
            ExpectedVersion.Any,
            [new EventData("step", data), new EventData("step", data, Encoding.UTF8.GetBytes(new string('x', 2000))), new EventData("step", data)]);
        lock (gate)
        {
            output.WriteLine(result.LastPosition.ToString(CultureInfo.InvariantCulture));
            output.Flush();
        }
    }
}));
await Task.WhenAll(writers);
