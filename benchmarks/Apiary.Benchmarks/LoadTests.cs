using System.Diagnostics;
using System.Globalization;
using Apiary.Protocol;
using Apiary.Sandbox;
using Apiary.Sandbox.Bubblewrap;

namespace Apiary.Benchmarks;

/// <summary>Whole-system measurements that are not micro-benchmarks: concurrency and streaming throughput.</summary>
internal static class LoadTests
{
    /// <summary>Decisions per second with 100 rules, on every core at once, for a few seconds.</summary>
    public static int PolicyThroughput()
    {
        var single = PolicyRate(1);
        var all = PolicyRate(Environment.ProcessorCount);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"policy: {single:F0} decisions/s on 1 core, {all:F0} on {Environment.ProcessorCount} cores, with 100 rules (target >= 250000 on both)"));
        return all >= 250_000 ? 0 : 1;
    }

    private static double PolicyRate(int cores)
    {
        var bench = new PolicyBenchmarks();
        bench.Setup();
        var duration = TimeSpan.FromSeconds(5);
        var counts = new long[cores];
        var clock = Stopwatch.StartNew();
        Parallel.For(0, cores, new ParallelOptions { MaxDegreeOfParallelism = cores }, core =>
        {
            long n = 0;
            while (clock.Elapsed < duration)
            {
                for (var i = 0; i < 1000; i++)
                {
                    bench.Decide100RulesMatchNearEnd();
                }

                n += 1000;
            }

            counts[core] = n;
        });
        return counts.Sum() / clock.Elapsed.TotalSeconds;
    }

    public static async Task<int> RunAsync()
    {
        using var backend = BubblewrapBackend.Create();
        var workspace = Directory.CreateTempSubdirectory("apiary-load-").FullName;
        try
        {
            await using var session = await backend.OpenSessionAsync(new SandboxSessionOptions { Workspace = workspace });
            var failures = 0;
            failures += await ConcurrentAsync(session, 100);
            failures += await StreamingAsync(session, 1L << 30);
            return failures;
        }
        finally
        {
            Directory.Delete(workspace, recursive: true);
        }
    }

    private static async Task<int> ConcurrentAsync(ISandboxSession session, int count)
    {
        var before = BwrapProcesses();
        var clock = Stopwatch.StartNew();
        var runs = Enumerable.Range(0, count).Select(async i =>
        {
            await foreach (var observation in session.ExecuteAsync(new ExecCommand { RequestId = $"c{i}", Command = "/bin/sh", Args = ["-c", "echo $$; sleep 0.05"] }))
            {
                if (observation is CompleteObservation { ExitCode: 0 })
                {
                    return true;
                }

                if (observation is CompleteObservation or ErrorObservation)
                {
                    Console.Error.WriteLine($"command {i} failed: {observation}");
                    return false;
                }
            }

            return false;
        }).ToList();
        var results = await Task.WhenAll(runs);
        var elapsed = clock.Elapsed;
        Apiary.Sandbox.Execution.OrphanReaper.Reap(now: true);
        var leaked = BwrapProcesses() - before;
        var ok = results.Count(r => r);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"concurrent: {count} sandboxed commands on {Environment.ProcessorCount} cores: {ok} ok, {count - ok} failed, {leaked} leaked processes (live or zombie), {elapsed.TotalMilliseconds:F0} ms in all"));
        return (count - ok) + Math.Max(0, leaked);
    }

    private static async Task<int> StreamingAsync(ISandboxSession session, long bytes)
    {
        var args = new[] { "-c", bytes.ToString(CultureInfo.InvariantCulture), "/dev/zero" };

        // The same pipe outside the sandbox: head writing into a .NET child-process pipe, read in 64 KiB chunks.
        var bare = Stopwatch.StartNew();
        var start = new ProcessStartInfo("head") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        long bareBytes = 0;
        using (var process = Process.Start(start)!)
        {
            var buffer = new byte[64 * 1024];
            int read;
            while ((read = await process.StandardOutput.BaseStream.ReadAsync(buffer)) > 0)
            {
                bareBytes += read;
            }

            await process.WaitForExitAsync();
        }

        var bareRate = bareBytes / bare.Elapsed.TotalSeconds;

        var sandboxed = Stopwatch.StartNew();
        long sandboxBytes = 0;
        await foreach (var observation in session.ExecuteAsync(new ExecCommand { RequestId = "stream", Command = "head", Args = args, OutputLimitBytes = long.MaxValue, TimeoutMs = 600_000 }))
        {
            if (observation is OutputObservation output)
            {
                sandboxBytes += output.Data.Length;
            }
        }

        var sandboxRate = sandboxBytes / sandboxed.Elapsed.TotalSeconds;
        var ratio = sandboxRate / bareRate;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"streaming: {bytes >> 20} MiB: bare pipe {bareRate / (1 << 20):F0} MiB/s, through the sandbox {sandboxRate / (1 << 20):F0} MiB/s, ratio {ratio:F2} (target >= 0.50)"));
        return sandboxBytes == bytes && ratio >= 0.5 ? 0 : 1;
    }

    private static int BwrapProcesses() =>
        Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _)).Count(d =>
        {
            try
            {
                var stat = File.ReadAllText(Path.Combine(d, "stat"));
                return stat.Contains("(bwrap)", StringComparison.Ordinal) || stat.Contains("(sleep)", StringComparison.Ordinal);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        });
}
