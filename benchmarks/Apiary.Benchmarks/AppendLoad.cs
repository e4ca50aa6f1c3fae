using System.Diagnostics;
using System.Globalization;
using System.Text;
using Apiary.Events;
using Apiary.Storage.Sqlite;

namespace Apiary.Benchmarks;

/// <summary>
/// Durable appends on a real SQLite file: events/s with 64 concurrent writers appending for a few seconds (group
/// commit), and the latency distribution of single appends one after another (p50, p99).
/// </summary>
internal static class AppendLoad
{
    private const int Writers = 64;

    private static readonly EventData[] OneEvent = [new("session.command-executed", Encoding.UTF8.GetBytes("{\"agent\":\"alice\",\"command\":\"ls\",\"exit\":0}"), Encoding.UTF8.GetBytes(new string('x', 256)))];

    public static async Task<int> RunAsync()
    {
        var folder = Directory.CreateTempSubdirectory("apiary-append-load-").FullName;
        try
        {
            await using var store = await SqliteEventStore.OpenAsync(Path.Combine(folder, "events.db"));

            // Warm up: JIT, the file's first pages, the writer's caches.
            await WritersAsync(store, TimeSpan.FromSeconds(1));
            var rate = await WritersAsync(store, TimeSpan.FromSeconds(5));
            var (p50, p99) = await SingleAppendsAsync(store, 20_000);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"appends: {rate:F0} events/s with {Writers} concurrent writers (target >= 50000); single append p50 {p50:F3} ms, p99 {p99:F3} ms (target p99 <= 2 ms)"));
            return rate >= 50_000 && p99 <= 2 ? 0 : 1;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static async Task<double> WritersAsync(SqliteEventStore store, TimeSpan duration)
    {
        var clock = Stopwatch.StartNew();
        var counts = await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            long n = 0;
            var stream = $"agent-{w}";
            while (clock.Elapsed < duration)
            {
                await store.AppendAsync(stream, ExpectedVersion.Any, OneEvent);
                n++;
            }

            return n;
        })));
        return counts.Sum() / clock.Elapsed.TotalSeconds;
    }

    private static async Task<(double P50, double P99)> SingleAppendsAsync(SqliteEventStore store, int count)
    {
        var latencies = new double[count];
        for (var i = 0; i < count; i++)
        {
            var start = Stopwatch.GetTimestamp();
            await store.AppendAsync("agent-alone", ExpectedVersion.Any, OneEvent);
            latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(latencies);
        return (latencies[count / 2], latencies[(int)(count * 0.99)]);
    }
}
