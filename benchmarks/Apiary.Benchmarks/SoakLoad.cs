using System.Diagnostics;
using System.Globalization;
using Apiary.Client;
using Apiary.Contracts;
using Apiary.Home;

namespace Apiary.Benchmarks;

/// <summary>
/// The soak of issue 14: one <c>apiary up</c> process on a new home, sandboxed <c>find /usr</c> proposals (each with
/// about a mebibyte of output, which the sandbox caps) through the API at a fixed concurrency, in sessions of 250 that
/// are closed when done. The process's resident memory (VmRSS) is sampled every 500 proposals; the target is that it
/// stays flat: after the first 2,000 (warm: the JIT, the pools and the caches filled), the trend of the samples (their
/// least-squares slope; single samples swing with the garbage collector) adds no more than 10% of their mean per
/// 10,000 proposals. <c>soak [COUNT] [CONCURRENCY]</c>; 10,000 and 8 by default. <c>APIARY_DLL</c> runs another build.
/// </summary>
internal static class SoakLoad
{
    private const int SessionSize = 250;
    private const int SampleEvery = 500;
    private const int Warm = 2000;
    private const double TrendTarget = 0.10;

    public static async Task<int> RunAsync(string[] args)
    {
        var count = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 10_000;
        var concurrency = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 8;
        var root = Directory.CreateTempSubdirectory("apiary-soak-").FullName;
        Process? up = null;
        try
        {
            var userHome = Directory.CreateDirectory(Path.Combine(root, "user")).FullName;
            var home = new ApiaryHome(Path.Combine(root, "home"), userHome);
            await home.InitializeAsync();
            var (started, url) = await ServerLoad.StartUpAsync(home, userHome);
            up = started;
            using var http = new HttpClient { BaseAddress = new Uri(url.TrimEnd('/') + "/"), Timeout = Timeout.InfiniteTimeSpan };
            using var client = new ApiaryClient(http, (await File.ReadAllTextAsync(Path.Combine(home.Root, ServerInfo.OperatorTokenPath))).Trim());

            var samples = new List<(int Done, long Rss)> { (0, ServerLoad.Memory(up.Id).Rss) };
            var errors = 0;
            long outputChars = 0;
            var clock = Stopwatch.StartNew();
            for (var done = 0; done < count;)
            {
                var session = (await client.OpenSessionAsync("operator")).Session.Id;
                var batch = Math.Min(SessionSize, count - done);
                var next = 0;
                await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
                {
                    while (Interlocked.Increment(ref next) <= batch)
                    {
                        try
                        {
                            var proposal = await client.ProposeAsync(session, new ProposalRequest("exec", Command: "find", Args: ["/usr"]), wait: true);
                            if (proposal.Status != "completed")
                            {
                                Interlocked.Increment(ref errors);
                            }

                            Interlocked.Add(ref outputChars, proposal.Result?.Stdout?.Length ?? 0);
                        }
                        catch (Exception ex) when (ex is ApiaryClientException or HttpRequestException)
                        {
                            Interlocked.Increment(ref errors);
                        }
                    }
                }));
                await client.CloseSessionAsync(session);
                var before = done;
                done += batch;
                if (done / SampleEvery != before / SampleEvery || done == count)
                {
                    samples.Add((done, ServerLoad.Memory(up.Id).Rss));
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {done} proposals in {clock.Elapsed.TotalSeconds:F0} s: VmRSS {samples[^1].Rss} MiB"));
                }
            }

            // The trend after warming up: the least-squares slope of the samples, in MiB per 10,000 proposals.
            var warmed = samples.Where(s => s.Done >= Math.Min(Warm, count / 2)).ToList();
            var meanX = warmed.Average(s => (double)s.Done);
            var meanY = warmed.Average(s => (double)s.Rss);
            var slope = warmed.Sum(s => (s.Done - meanX) * (s.Rss - meanY)) / Math.Max(1, warmed.Sum(s => (s.Done - meanX) * (s.Done - meanX)));
            var trend = slope * 10_000;
            var peak = ServerLoad.Memory(up.Id).Peak;
            var met = errors == 0 && trend <= meanY * TrendTarget;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"soak: {count} 'find /usr' proposals at concurrency {concurrency} in {clock.Elapsed.TotalSeconds:F0} s ({count / clock.Elapsed.TotalSeconds:F1}/s), {outputChars / count / 1024} KiB of output each on average, {errors} not completed; VmRSS {samples[0].Rss} MiB at start, {samples[^1].Rss} MiB at the end, peak {peak} MiB; after {warmed[0].Done}: mean {meanY:F0} MiB, trend {trend:+0;-0} MiB per 10,000 proposals ({trend * 100 / meanY:+0.0;-0.0}% of the mean); samples {string.Join(", ", samples.Select(s => $"{s.Done}:{s.Rss}"))} (target: no errors, trend at most +{TrendTarget:P0} of the mean per 10,000) [{(met ? "met" : "NOT MET")}]"));
            return met ? 0 : 1;
        }
        finally
        {
            if (up is not null)
            {
                await ServerLoad.StopAsync(up);
                up.Dispose();
            }

            Directory.Delete(root, recursive: true);
        }
    }
}
