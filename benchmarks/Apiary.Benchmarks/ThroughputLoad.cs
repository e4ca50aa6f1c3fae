using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Apiary.Agents;
using Apiary.Client;
using Apiary.Contracts;
using Apiary.Governance;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Budgets;
using Apiary.Governance.Locks;
using Apiary.Governance.Pipeline;
using Apiary.Home;
using Apiary.Protocol;
using Apiary.Sandbox;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Templates;
using Apiary.Storage.Sqlite;

namespace Apiary.Benchmarks;

/// <summary>
/// Throughput and latency of issue 14, item 8, on one <c>apiary up</c> process over a new home initialized with the
/// samples, in an <c>operator</c> session (no command budget):
/// <list type="number">
/// <item>throughput: <see cref="Count"/> <c>echo</c> proposals at concurrency <see cref="Concurrency"/> through the API
/// (<c>POST ...?wait=true</c>) against the same number of the same sandboxed commands in this process (the same
/// governance pipeline over a SQLite store, a bubblewrap session with the sample <c>default</c> template, the
/// completion recorded) at the same concurrency; the two alternate in phases so drift in the machine's load falls on
/// both; target: the API's rate at least half the in-process rate;</item>
/// <item>latency: one <c>exec true</c> through the API as a whole <c>curl</c> process, against <c>curl</c> of
/// <c>/healthz</c> and bare <c>bwrap --ro-bind / / --unshare-all --die-with-parent true</c>, each started the same way
/// and alternating in rounds; target: median exec ≤ median healthz + 1.5 × median bare bubblewrap.</item>
/// </list>
/// <c>throughput-load [COUNT] [CONCURRENCY]</c>.
/// </summary>
internal static class ThroughputLoad
{
    private const int Count = 5000;
    private const int Concurrency = 50;
    private const int Phases = 5;
    private const int WarmUp = 200;
    private const double RateTarget = 0.5;
    private const double BwrapFactor = 1.5;
    private const int LatencyRounds = 20;
    private const int LatencyPerRound = 5;

    private static readonly List<(string Line, bool Met)> Results = [];

    public static async Task<int> RunAsync(string[] args)
    {
        var count = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : Count;
        var concurrency = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : Concurrency;
        var root = Directory.CreateTempSubdirectory("apiary-throughput-").FullName;
        Process? up = null;
        try
        {
            var userHome = Directory.CreateDirectory(Path.Combine(root, "user")).FullName;
            var home = new ApiaryHome(Path.Combine(root, "home"), userHome);
            await home.InitializeAsync();
            (up, var url) = await ServerLoad.StartUpAsync(home, userHome);
            var token = (await File.ReadAllTextAsync(Path.Combine(home.Root, ServerInfo.OperatorTokenPath))).Trim();
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue })
            {
                BaseAddress = new Uri(url.TrimEnd('/') + "/"),
                Timeout = Timeout.InfiniteTimeSpan,
            };
            using var client = new ApiaryClient(http, token);
            var opened = await client.OpenSessionAsync("operator");

            await ThroughputAsync(home, root, client.WithToken(opened.Token), opened.Session.Id, count, concurrency, up.Id);
            await LatencyAsync(url, opened.Token, opened.Session.Id);
            await client.CloseSessionAsync(opened.Session.Id);
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

        foreach (var (line, met) in Results)
        {
            Console.WriteLine($"{line} [{(met ? "met" : "NOT MET")}]");
        }

        return Results.TrueForAll(r => r.Met) ? 0 : 1;
    }

    private static void Report(bool met, FormattableString line) => Results.Add((string.Create(CultureInfo.InvariantCulture, $"{line}"), met));

    // (a) Throughput: the API against the pipeline and sandbox in process, at the same concurrency.

    private static async Task ThroughputAsync(ApiaryHome home, string root, ApiaryClient client, string sessionId, int count, int concurrency, int pid)
    {
        var echo = new ProposalRequest("exec", "echo", ["hi"]);

        // The same composition as the server's runtime for an operator session, on its own store: the sample policies,
        // the secret-leak evaluator, no budget, the kill switch token, a bubblewrap session with the default template.
        var folder = Directory.CreateDirectory(Path.Combine(root, "in-process")).FullName;
        var workspace = Directory.CreateDirectory(Path.Combine(folder, "workspace")).FullName;
        await using var store = await SqliteEventStore.OpenAsync(Path.Combine(folder, "events.db"));
        var loaded = PolicyLoader.LoadDirectory(home.PoliciesDirectory);
        var pipeline = new GovernancePipeline(store, new PolicyEngine(loaded.Policy!, [new SecretLeakEvaluator([])]), new BudgetLedger(), new LockTable(), new KillSwitch());
        await pipeline.LoadAsync();
        var principal = new Principal(AgentName.Parse("operator"), AgentRole.Manager, "bench-" + Guid.NewGuid().ToString("N"));
        var template = (await new SandboxTemplateLoader(home.TemplatesDirectory, home.Root).LoadAsync("default")).Template!;
        using var backend = BubblewrapBackend.Create();
        await using var sandbox = await backend.OpenSessionAsync(new SandboxSessionOptions { Workspace = workspace, Template = template });
        var n = 0;

        async Task ApiOnceAsync()
        {
            var answer = await client.ProposeAsync(sessionId, echo, wait: true);
            if (answer.Status != "completed" || answer.Result?.ExitCode != 0 || answer.Result.Stdout != "hi\n")
            {
                throw new InvalidOperationException($"echo through the API: {answer.Status}, {answer.Decision.Reason}, {answer.Result}");
            }
        }

        async Task InProcessOnceAsync()
        {
            var start = Stopwatch.GetTimestamp();
            var proposal = Proposal.Exec(principal, workspace, "echo", ["hi"]);
            var result = await pipeline.SubmitAsync(proposal, new BudgetEstimate(1, template.Timeout, 0, 0m));
            var allowed = result.Allowed ?? throw new InvalidOperationException($"echo in process: {result.Decision.Kind}, {result.Decision.Reason}");
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(pipeline.KillTokenFor(principal));
            int? exit = null;
            var output = "";
            await foreach (var observation in sandbox.ExecuteAsync(new ExecCommand { RequestId = "bench-" + Interlocked.Increment(ref n), Command = "echo", Args = ["hi"] }, stop.Token))
            {
                switch (observation)
                {
                    case OutputObservation o:
                        output += System.Text.Encoding.UTF8.GetString(o.Data);
                        break;
                    case CompleteObservation complete:
                        exit = complete.ExitCode;
                        break;
                }
            }

            var elapsed = Stopwatch.GetElapsedTime(start);
            await pipeline.CompleteAsync(allowed, new ProposalOutcome(exit, "exited", elapsed, output), new BudgetAmounts(1, elapsed, 0, 0m));
            if (exit != 0 || output != "hi\n")
            {
                throw new InvalidOperationException($"echo in process exited {exit} with '{output}'");
            }
        }

        // Warm up both paths (the JIT, connections, the sandbox starters) at the same concurrency.
        await RunAtAsync(ApiOnceAsync, WarmUp, concurrency);
        await RunAtAsync(InProcessOnceAsync, WarmUp, concurrency);

        var api = new List<double>();
        var local = new List<double>();
        double apiSeconds = 0, localSeconds = 0;
        var perPhase = count / Phases;
        for (var phase = 0; phase < Phases; phase++)
        {
            var apiFirst = phase % 2 == 0;
            for (var side = 0; side < 2; side++)
            {
                var isApi = (side == 0) == apiFirst;
                var (seconds, times) = await RunAtAsync(isApi ? ApiOnceAsync : InProcessOnceAsync, perPhase, concurrency);
                (isApi ? api : local).AddRange(times);
                if (isApi)
                {
                    apiSeconds += seconds;
                }
                else
                {
                    localSeconds += seconds;
                }

                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  phase {phase + 1} {(isApi ? "API       " : "in process")}: {perPhase} in {seconds:F1} s ({perPhase / seconds:F0}/s), p50 {Percentile(times, 0.5):F0} ms, p99 {Percentile(times, 0.99):F0} ms; server VmRSS {ServerLoad.Memory(pid).Rss} MiB"));
            }
        }

        var apiRate = api.Count / apiSeconds;
        var localRate = local.Count / localSeconds;
        var ratio = apiRate / localRate;
        Report(ratio >= RateTarget,
            $"(a) {api.Count} 'echo hi' at concurrency {concurrency} through the API (POST ?wait=true, operator session): {apiRate:F1}/s, p50 {Percentile(api, 0.5):F0} ms, p99 {Percentile(api, 0.99):F0} ms; in process (pipeline + bubblewrap session + completion), {local.Count}: {localRate:F1}/s, p50 {Percentile(local, 0.5):F0} ms, p99 {Percentile(local, 0.99):F0} ms; rate ratio API / in process {ratio:F2} (target >= {RateTarget})");
    }

    /// <summary>Runs <paramref name="once"/> <paramref name="total"/> times, <paramref name="concurrency"/> at a time; the elapsed seconds and each call's milliseconds.</summary>
    private static async Task<(double Seconds, List<double> Times)> RunAtAsync(Func<Task> once, int total, int concurrency)
    {
        var times = new double[total];
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < total)
            {
                var start = Stopwatch.GetTimestamp();
                await once();
                times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
        })));
        return (clock.Elapsed.TotalSeconds, [.. times]);
    }

    // (b) Latency of one exec as a whole client process.

    private static async Task LatencyAsync(string url, string token, string sessionId)
    {
        var baseUrl = url.TrimEnd('/');
        string[] exec = ["-s", "-H", "Authorization: Bearer " + token, "-H", "Content-Type: application/json", "--data", """{"kind":"exec","command":"true"}""", $"{baseUrl}/api/sessions/{sessionId}/proposals?wait=true"];
        string[] healthz = ["-s", baseUrl + "/healthz"];
        string[] bwrap = ["--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"];

        // The closest bare equivalent of what the launcher runs as root: its namespaces (no user namespace), no seccomp,
        // no setpriv, no starter; printed for reference.
        string[] bwrapLauncher = ["--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try", "--die-with-parent", "--new-session", "true"];

        var execTimes = new List<double>();
        var healthTimes = new List<double>();
        var bwrapTimes = new List<double>();
        var launcherTimes = new List<double>();
        var reported = new List<double>();

        // Warm up: the server's code for this request, the page cache for curl and bwrap.
        for (var i = 0; i < 5; i++)
        {
            await TimeProcessAsync("curl", exec);
            await TimeProcessAsync("curl", healthz);
            await TimeProcessAsync("bwrap", bwrap);
        }

        for (var round = 0; round < LatencyRounds; round++)
        {
            // Rotate which goes first, so drift in the machine's load falls on each.
            var order = Enumerable.Range(0, 4).Select(k => (k + round) % 4);
            foreach (var which in order)
            {
                for (var i = 0; i < LatencyPerRound; i++)
                {
                    switch (which)
                    {
                        case 0:
                            var (ms, output) = await TimeProcessAsync("curl", exec);
                            using (var document = JsonDocument.Parse(output))
                            {
                                if (!document.RootElement.TryGetProperty("result", out var result) || result.GetProperty("exit_code").GetInt32() != 0)
                                {
                                    throw new InvalidOperationException("exec true through curl: " + output);
                                }

                                reported.Add(result.GetProperty("duration_ms").GetDouble());
                            }

                            execTimes.Add(ms);
                            break;
                        case 1:
                            healthTimes.Add((await TimeProcessAsync("curl", healthz)).Ms);
                            break;
                        case 2:
                            bwrapTimes.Add((await TimeProcessAsync("bwrap", bwrap)).Ms);
                            break;
                        default:
                            launcherTimes.Add((await TimeProcessAsync("bwrap", bwrapLauncher)).Ms);
                            break;
                    }
                }
            }
        }

        var target = Percentile(healthTimes, 0.5) + BwrapFactor * Percentile(bwrapTimes, 0.5);
        Report(Percentile(execTimes, 0.5) <= target,
            $"(b) 'exec true' through the API as a whole curl process, {execTimes.Count} runs: p50 {Percentile(execTimes, 0.5):F2} ms, p99 {Percentile(execTimes, 0.99):F2} ms (the command's own durationMs p50 {Percentile(reported, 0.5):F0}); curl /healthz p50 {Percentile(healthTimes, 0.5):F2} ms, p99 {Percentile(healthTimes, 0.99):F2} ms; bare 'bwrap --ro-bind / / --unshare-all --die-with-parent true' p50 {Percentile(bwrapTimes, 0.5):F2} ms, p99 {Percentile(bwrapTimes, 0.99):F2} ms (the launcher's namespaces without a user namespace: p50 {Percentile(launcherTimes, 0.5):F2} ms); target p50 <= healthz + {BwrapFactor} x bwrap = {target:F2} ms; exec minus healthz = {(Percentile(execTimes, 0.5) - Percentile(healthTimes, 0.5)) / Percentile(bwrapTimes, 0.5):F2} x bare bwrap");
    }

    /// <summary>Starts <paramref name="program"/> and waits for it to exit; its wall time from start to exit and its standard output.</summary>
    private static async Task<(double Ms, string Output)> TimeProcessAsync(string program, string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var clock = Stopwatch.GetTimestamp();
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        var ms = Stopwatch.GetElapsedTime(clock).TotalMilliseconds;
        var output = await stdout;
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited {process.ExitCode}: {await stderr}");
        }

        return (ms, output);
    }

    private static double Percentile(List<double> values, double p) => ServerLoad.Percentile(values, p);
}
