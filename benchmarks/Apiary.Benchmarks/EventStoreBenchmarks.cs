using System.Text;
using Apiary.Events;
using Apiary.Storage.Sqlite;
using BenchmarkDotNet.Attributes;

namespace Apiary.Benchmarks;

/// <summary>
/// The SQLite event store on a real file: one append alone (latency: one transaction each), and 64 concurrent writers
/// appending 1,024 events between them (throughput: group commit shares transactions). Appends/s = 1024 / mean.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class EventStoreBenchmarks
{
    private const int Writers = 64;
    private const int AppendsPerWriter = 16;

    private static readonly EventData[] OneEvent = [new("session.command-executed", Encoding.UTF8.GetBytes("{\"agent\":\"alice\",\"command\":\"ls\",\"exit\":0}"), Encoding.UTF8.GetBytes(new string('x', 256)))];

    private string _folder = null!;
    private SqliteEventStore _store = null!;

    [GlobalSetup]
    public void Setup()
    {
        _folder = Directory.CreateTempSubdirectory("apiary-bench-events-").FullName;
        _store = SqliteEventStore.OpenAsync(Path.Combine(_folder, "events.db")).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _store.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_folder, recursive: true);
    }

    [Benchmark(Description = "single append (latency)")]
    public Task<AppendResult> SingleAppend() => _store.AppendAsync("agent-alice", ExpectedVersion.Any, OneEvent);

    [Benchmark(Description = "64 writers x 16 appends (1024 events)", OperationsPerInvoke = Writers * AppendsPerWriter)]
    public Task ConcurrentAppends() => Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
    {
        for (var i = 0; i < AppendsPerWriter; i++)
        {
            await _store.AppendAsync($"agent-{w}", ExpectedVersion.Any, OneEvent);
        }
    })));
}
