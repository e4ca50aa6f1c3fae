using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Apiary.Agents;
using Apiary.Client;
using Apiary.Contracts;
using Apiary.Governance;
using Apiary.Governance.Budgets;
using Apiary.Governance.KillSwitches;
using Apiary.Governance.Locks;
using Apiary.Governance.Pipeline;
using Apiary.Home;
using Apiary.Protocol;
using Apiary.Sandbox;
using Apiary.Sandbox.Bubblewrap;
using Apiary.Sandbox.Templates;
using Apiary.Server;
using Apiary.Storage.Sqlite;
using Apiary.Runtime;

namespace Apiary.Benchmarks;

/// <summary>
/// The server of issue 5, on temporary homes initialized with the samples and real bubblewrap sandboxes:
/// <list type="number">
/// <item>readiness: <see cref="ApiaryServer.StartAsync"/> to <c>/readyz</c> 200 in this process, and <c>apiary up</c>
/// launched as a process (the built <c>apiary.dll</c> through <c>dotnet</c>) to <c>/readyz</c> 200;</item>
/// <item><c>exec true</c> through the API (<c>?wait=true</c>, one session) against the same through the governance
/// pipeline and a sandbox session in this process, alternating in rounds;</item>
/// <item>100 SSE clients on <c>/api/events/stream</c> of the <c>apiary up</c> process while sessions are opened one
/// after another: delivery latency of each <c>session.opened</c> event to each client;</item>
/// <item>1,000 open sessions on that process with 50 <c>sleep 1</c> running at once: errors, and the process's
/// resident memory before and after.</item>
/// </list>
/// </summary>
internal static class ServerLoad
{
    private const double ReadyTarget = 1500;
    private const double ExecRatioTarget = 1.5;
    private const double SseTarget = 50;
    private const int ReadyTrials = 5;
    private const int ExecRounds = 10;
    private const int ExecPerRound = 5;
    private const int SseClients = 100;
    private const int SseEvents = 200;
    private const int Sessions = 1000;
    private const int Concurrent = 50;
    private const int Waves = 3;

    private static readonly List<(string Line, bool Met)> Results = [];

    public static async Task<int> RunAsync()
    {
        var root = Directory.CreateTempSubdirectory("apiary-server-load-").FullName;
        try
        {
            var userHome = Directory.CreateDirectory(Path.Combine(root, "user")).FullName;
            var inProcessHome = await NewHomeAsync(Path.Combine(root, "home-in-process"), userHome);
            var processHome = await NewHomeAsync(Path.Combine(root, "home-process"), userHome);

            await InProcessReadinessAsync(inProcessHome, userHome);
            await ExecAsync(inProcessHome, userHome, root);

            Process? up = null;
            try
            {
                up = await ProcessReadinessAsync(processHome, userHome);
                var url = (await ServerInfo.ReadAsync(processHome))!.Url;
                var token = (await File.ReadAllTextAsync(Path.Combine(processHome.Root, ServerInfo.OperatorTokenPath))).Trim();
                using var http = new HttpClient { BaseAddress = new Uri(url.TrimEnd('/') + "/"), Timeout = Timeout.InfiniteTimeSpan };
                using var client = new ApiaryClient(http, token);
                await SseAsync(http, client, token);
                await ManySessionsAsync(http, client, token, up.Id);
            }
            finally
            {
                if (up is not null)
                {
                    await StopAsync(up);
                    up.Dispose();
                }
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }

        foreach (var (line, met) in Results)
        {
            Console.WriteLine($"{line} [{(met ? "met" : "NOT MET")}]");
        }

        return Results.TrueForAll(r => r.Met) ? 0 : 1;
    }

    private static void Report(bool met, FormattableString line) => Results.Add((string.Create(CultureInfo.InvariantCulture, $"{line}"), met));

    private static async Task<ApiaryHome> NewHomeAsync(string path, string userHome)
    {
        var home = new ApiaryHome(path, userHome);
        await home.InitializeAsync();
        return home;
    }

    // 1. Readiness.

    private static async Task InProcessReadinessAsync(ApiaryHome home, string userHome)
    {
        var times = new List<double>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        for (var i = 0; i < ReadyTrials; i++)
        {
            var clock = Stopwatch.StartNew();
            await using var server = await ApiaryServer.StartAsync(new ServerOptions { Home = home.Root, Urls = "http://127.0.0.1:0", UserHome = userHome });
            var started = clock.Elapsed.TotalMilliseconds;
            await WaitReadyAsync(http, server.Url);
            times.Add(clock.Elapsed.TotalMilliseconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  in-process start {i + 1}: StartAsync returned at {started:F0} ms, /readyz 200 at {times[^1]:F0} ms"));
        }

        Report(Median(times) <= ReadyTarget,
            $"readiness in process (StartAsync call to /readyz 200), {ReadyTrials} starts: median {Median(times):F0} ms, first {times[0]:F0} ms, max {times.Max():F0} ms (target <= {ReadyTarget} ms)");
    }

    /// <summary>Starts <c>apiary up</c> <see cref="ReadyTrials"/> times, stopping all but the last with Ctrl-C; returns the last, running.</summary>
    private static async Task<Process> ProcessReadinessAsync(ApiaryHome home, string userHome)
    {
        var dll = ApiaryDll();
        var times = new List<double>();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        Process? last = null;
        for (var i = 0; i < ReadyTrials; i++)
        {
            var start = new ProcessStartInfo("dotnet")
            {
                ArgumentList = { dll, "up", "--home", home.Root, "--urls", "http://127.0.0.1:0" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            start.Environment["HOME"] = userHome;
            var clock = Stopwatch.StartNew();
            var process = Process.Start(start)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is { Length: > 0 })
                {
                    Console.Error.WriteLine("  apiary up: " + e.Data);
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();

            // What a client does: find the server through run/server.json, then ask /readyz.
            ServerInfo? info = null;
            while (info is null || info.Pid != process.Id)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"apiary up exited with {process.ExitCode} before it was ready");
                }

                info = File.Exists(ServerInfo.PathIn(home)) ? await TryReadInfoAsync(home) : null;
                if (info is null || info.Pid != process.Id)
                {
                    await Task.Delay(2);
                }
            }

            await WaitReadyAsync(http, info.Url);
            times.Add(clock.Elapsed.TotalMilliseconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  apiary up {i + 1}: /readyz 200 at {times[^1]:F0} ms after launch"));
            if (i < ReadyTrials - 1)
            {
                await StopAsync(process);
                process.Dispose();
            }
            else
            {
                last = process;
            }
        }

        Report(Median(times) <= ReadyTarget,
            $"readiness of 'apiary up' as a process (launch of 'dotnet apiary.dll up' to /readyz 200), {ReadyTrials} starts: median {Median(times):F0} ms, min {times.Min():F0} ms, max {times.Max():F0} ms (target <= {ReadyTarget} ms)");
        return last!;
    }

    private static async Task<ServerInfo?> TryReadInfoAsync(ApiaryHome home)
    {
        try
        {
            return await ServerInfo.ReadAsync(home);
        }
        catch (Exception ex) when (ex is IOException or JsonException or ApiaryException)
        {
            return null;
        }
    }

    /// <summary>Launches <c>apiary up</c> on <paramref name="home"/> and waits until it answers <c>/readyz</c>.</summary>
    internal static async Task<(Process Up, string Url)> StartUpAsync(ApiaryHome home, string userHome)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { ApiaryDll(), "up", "--home", home.Root, "--urls", "http://127.0.0.1:0" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["HOME"] = userHome;
        var up = Process.Start(start)!;
        up.OutputDataReceived += (_, _) => { };
        up.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is { Length: > 0 })
            {
                Console.Error.WriteLine("  apiary up: " + e.Data);
            }
        };
        up.BeginOutputReadLine();
        up.BeginErrorReadLine();
        ServerInfo? info = null;
        while (info?.Pid != up.Id)
        {
            if (up.HasExited)
            {
                throw new InvalidOperationException($"apiary up exited with {up.ExitCode} before it was ready");
            }

            await Task.Delay(20);
            try
            {
                info = File.Exists(ServerInfo.PathIn(home)) ? await ServerInfo.ReadAsync(home) : null;
            }
            catch (Exception ex) when (ex is IOException or JsonException or ApiaryException)
            {
                info = null;
            }
        }

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await WaitReadyAsync(http, info.Url);
        return (up, info.Url);
    }

    internal static async Task WaitReadyAsync(HttpClient http, string url)
    {
        var readyz = new Uri(url.TrimEnd('/') + "/readyz");
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var response = await http.GetAsync(readyz);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (deadline.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"{readyz} did not answer 200 within 30 s");
            }

            await Task.Delay(2);
        }
    }

    internal static async Task StopAsync(Process process)
    {
        if (process.HasExited)
        {
            return;
        }

        // Ctrl-C: the server cancels what runs, records it and exits.
        using (var kill = Process.Start("kill", ["-INT", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(patience.Token);
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("  apiary up did not stop within 30 s of Ctrl-C; killed");
            process.Kill(entireProcessTree: true);
        }
    }

    internal static string ApiaryDll()
    {
        // APIARY_DLL: another build of the CLI, such as one made from a clean checkout while the tree does not build.
        if (Environment.GetEnvironmentVariable("APIARY_DLL") is { Length: > 0 } given)
        {
            return given;
        }

        var folder = new DirectoryInfo(AppContext.BaseDirectory);
        while (folder is not null && !File.Exists(Path.Combine(folder.FullName, "Apiary.slnx")))
        {
            folder = folder.Parent;
        }

        var dll = folder is null ? null : Path.Combine(folder.FullName, "src", "Apiary.Cli", "bin", "Release", "net10.0", "apiary.dll");
        return dll is not null && File.Exists(dll)
            ? dll
            : throw new FileNotFoundException("apiary.dll (Release) not found; run with -c Release so the CLI is built too");
    }

    // 2. exec true: the API against the pipeline and sandbox in process.

    private static async Task ExecAsync(ApiaryHome home, string userHome, string root)
    {
        await using var server = await ApiaryServer.StartAsync(new ServerOptions { Home = home.Root, Urls = "http://127.0.0.1:0", UserHome = userHome });
        using var http = new HttpClient { BaseAddress = new Uri(server.Url + "/"), Timeout = Timeout.InfiniteTimeSpan };
        using var operatorClient = new ApiaryClient(http, server.OperatorToken);
        var opened = await operatorClient.OpenSessionAsync("coder");
        var agentClient = operatorClient.WithToken(opened.Token);
        var sessionId = opened.Session.Id;
        var exec = new ProposalRequest("exec", "true");

        // The same composition as the server's runtime, on its own store: the sample policies, the secret-leak
        // evaluator, the coder's session budget, the kill switch token, a bubblewrap session over a workspace.
        var folder = Directory.CreateDirectory(Path.Combine(root, "in-process")).FullName;
        var workspace = Directory.CreateDirectory(Path.Combine(folder, "workspace")).FullName;
        await using var store = await SqliteEventStore.OpenAsync(Path.Combine(folder, "events.db"));
        var loaded = PolicyLoader.LoadDirectory(home.PoliciesDirectory);
        var ledger = new BudgetLedger();
        var pipeline = new GovernancePipeline(store, new PolicyEngine(loaded.Policy!, [new SecretLeakEvaluator([])]), ledger, new LockTable(), new KillSwitch());
        await pipeline.LoadAsync();
        var localSession = "bench-" + Guid.NewGuid().ToString("N");
        ledger.SetLimits(BudgetScope.Session(localSession), new BudgetLimits(200, TimeSpan.FromMinutes(30), 300_000, 1.50m));
        var principal = new Principal(AgentName.Parse("coder"), AgentRole.Worker, localSession);
        var template = (await new SandboxTemplateLoader(home.TemplatesDirectory, home.Root).LoadAsync("default")).Template!;
        using var backend = BubblewrapBackend.Create();
        await using var sandbox = await backend.OpenSessionAsync(new SandboxSessionOptions { Workspace = workspace, Template = template });
        var n = 0;

        async Task<double> ApiOnceAsync()
        {
            var start = Stopwatch.GetTimestamp();
            var answer = await agentClient.ProposeAsync(sessionId, exec, wait: true);
            var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            if (answer.Result?.ExitCode != 0)
            {
                throw new InvalidOperationException($"exec true through the API: {answer.Status}, {answer.Decision.Reason}, {answer.Result}");
            }

            return elapsed;
        }

        async Task<double> InProcessOnceAsync()
        {
            var start = Stopwatch.GetTimestamp();
            var result = await pipeline.SubmitAsync(Proposal.Exec(principal, workspace, "true"), new BudgetEstimate(1, template.Timeout, 0, 0m));
            var allowed = result.Allowed ?? throw new InvalidOperationException($"exec true in process: {result.Decision.Kind}, {result.Decision.Reason}");
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(pipeline.KillTokenFor(principal));
            int? exit = null;
            await foreach (var observation in sandbox.ExecuteAsync(new ExecCommand { RequestId = "bench-" + ++n, Command = "true" }, stop.Token))
            {
                if (observation is CompleteObservation complete)
                {
                    exit = complete.ExitCode;
                }
            }

            var elapsed = Stopwatch.GetElapsedTime(start);
            await pipeline.CompleteAsync(allowed, new ProposalOutcome(exit, "exited", elapsed, ""), new BudgetAmounts(1, elapsed, 0, 0m));
            elapsed = Stopwatch.GetElapsedTime(start);
            return exit == 0 ? elapsed.TotalMilliseconds : throw new InvalidOperationException($"exec true in process exited {exit}");
        }

        // Warm up both paths: JIT, connections, the sandbox starters.
        for (var i = 0; i < 5; i++)
        {
            await ApiOnceAsync();
            await InProcessOnceAsync();
        }

        var api = new List<double>();
        var local = new List<double>();
        for (var round = 0; round < ExecRounds; round++)
        {
            // Alternate which goes first, so drift in the machine's load falls on both.
            var apiFirst = round % 2 == 0;
            for (var side = 0; side < 2; side++)
            {
                var isApi = (side == 0) == apiFirst;
                for (var i = 0; i < ExecPerRound; i++)
                {
                    (isApi ? api : local).Add(isApi ? await ApiOnceAsync() : await InProcessOnceAsync());
                }
            }
        }

        var ratio = Median(api) / Median(local);
        Report(ratio <= ExecRatioTarget,
            $"exec 'true' through the API, end to end (POST ?wait=true), {api.Count} runs: median {Median(api):F2} ms (p90 {Percentile(api, 0.9):F2}); in process (pipeline + bubblewrap session + completion), {local.Count} runs: median {Median(local):F2} ms (p90 {Percentile(local, 0.9):F2}); ratio {ratio:F2} (target <= {ExecRatioTarget})");
        await operatorClient.CloseSessionAsync(sessionId);
    }

    // 3. SSE delivery to 100 clients.

    private sealed record Arrival(long At, string Line);

    private static async Task SseAsync(HttpClient http, ApiaryClient client, string token)
    {
        var seen = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        var arrivals = Enumerable.Range(0, SseClients).Select(_ => new List<Arrival>(SseEvents * 2)).ToArray();
        using var stop = new CancellationTokenSource();
        var connected = 0;
        var clients = Enumerable.Range(0, SseClients).Select(c => Task.Run(async () =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "api/events/stream");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop.Token);
            response.EnsureSuccessStatusCode();
            Interlocked.Increment(ref connected);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(stop.Token));
            try
            {
                while (await reader.ReadLineAsync(stop.Token) is { } line)
                {
                    if (line.StartsWith("data: ", StringComparison.Ordinal))
                    {
                        var at = Stopwatch.GetTimestamp();
                        arrivals[c].Add(new Arrival(at, line));
                        if (StreamOf(line) is { } stream)
                        {
                            seen.AddOrUpdate(stream, 1, (_, v) => v + 1);
                        }
                    }
                }
            }
            catch (OperationCanceledException)
            {
                // Done.
            }
        })).ToArray();

        // Connected means the response started: the server has fixed where each stream begins.
        while (Volatile.Read(ref connected) < SseClients)
        {
            if (clients.FirstOrDefault(t => t.IsFaulted) is { } failed)
            {
                await failed;
            }

            await Task.Delay(5);
        }

        var wall = DateTimeOffset.UtcNow;
        var wallAt = Stopwatch.GetTimestamp();
        var actions = new List<(string Stream, long Sent, long Returned)>();
        var missing = 0;
        for (var i = 0; i < SseEvents; i++)
        {
            var sent = Stopwatch.GetTimestamp();
            var opened = await client.OpenSessionAsync("coder");
            var returned = Stopwatch.GetTimestamp();
            var stream = "session-" + opened.Session.Id;
            actions.Add((stream, sent, returned));

            // One event at a time: wait until every client has it (or 5 s), then a short gap.
            var waiting = Stopwatch.StartNew();
            while (seen.GetValueOrDefault(stream) < SseClients && waiting.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(1);
            }

            missing += SseClients - Math.Min(SseClients, seen.GetValueOrDefault(stream));
            await Task.Delay(10);
        }

        await stop.CancelAsync();
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        var byStream = actions.ToDictionary(a => a.Stream);
        var fromSent = new List<double>();
        var fromReturn = new List<double>();
        var fromCommit = new List<double>();
        foreach (var list in arrivals)
        {
            foreach (var arrival in list)
            {
                if (StreamOf(arrival.Line) is not { } stream || !byStream.TryGetValue(stream, out var action))
                {
                    continue;
                }

                fromSent.Add(Stopwatch.GetElapsedTime(action.Sent, arrival.At).TotalMilliseconds);
                fromReturn.Add(Stopwatch.GetElapsedTime(action.Returned, arrival.At).TotalMilliseconds);
                using var document = JsonDocument.Parse(arrival.Line.AsMemory("data: ".Length));
                var recorded = document.RootElement.GetProperty("timestamp").GetDateTimeOffset();
                var arrivedWall = wall + Stopwatch.GetElapsedTime(wallAt, arrival.At);
                fromCommit.Add((arrivedWall - recorded).TotalMilliseconds);
            }
        }

        // The target is about delivery of an appended event, so it is judged from the append (the event's timestamp,
        // stamped by the store as it commits), not from the start of the API call, which also opens a sandboxed session.
        var p99 = Percentile(fromCommit, 0.99);
        Report(p99 <= SseTarget && missing == 0,
            $"SSE delivery to {SseClients} clients, {SseEvents} session.opened events one at a time ({fromSent.Count} deliveries, {missing} missing): from the API call's start p50 {Percentile(fromSent, 0.5):F1} ms, p99 {Percentile(fromSent, 0.99):F1} ms, max {fromSent.Max():F1} ms; from the store's timestamp of the event p50 {Percentile(fromCommit, 0.5):F1} ms, p99 {p99:F1} ms; from the API call's return p50 {Percentile(fromReturn, 0.5):F1} ms, p99 {Percentile(fromReturn, 0.99):F1} ms (target p99 <= {SseTarget} ms, judged from the append)");

        // Leave only the 1,000 sessions of the next measurement open.
        foreach (var action in actions)
        {
            await client.CloseSessionAsync(action.Stream["session-".Length..]);
        }
    }

    /// <summary>The <c>session-&lt;id&gt;</c> stream of a <c>session.opened</c> event's data line, or null.</summary>
    private static string? StreamOf(string line)
    {
        const string Marker = "\"stream\":\"session-";
        if (!line.Contains("\"type\":\"session.opened\"", StringComparison.Ordinal))
        {
            return null;
        }

        var at = line.IndexOf(Marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        var start = at + "\"stream\":\"".Length;
        var end = line.IndexOf('"', start);
        return end < 0 ? null : line[start..end];
    }

    // 4. 1,000 sessions, 50 commands at once.

    private static async Task ManySessionsAsync(HttpClient http, ApiaryClient client, string token, int pid)
    {
        var before = Memory(pid);
        var errors = new ConcurrentBag<string>();
        var sessions = new List<OpenSessionResponse>(Sessions);
        var openTimes = new List<double>(Sessions);
        var clock = Stopwatch.StartNew();

        // Ten openers at a time, as several agents connecting would.
        using var gate = new SemaphoreSlim(10);
        var opening = Enumerable.Range(0, Sessions).Select(async _ =>
        {
            await gate.WaitAsync();
            try
            {
                var start = Stopwatch.GetTimestamp();
                var opened = await client.OpenSessionAsync("coder");
                lock (sessions)
                {
                    sessions.Add(opened);
                    openTimes.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                }
            }
            catch (Exception ex) when (ex is ApiaryClientException or HttpRequestException)
            {
                errors.Add("open: " + ex.Message);
            }
            finally
            {
                gate.Release();
            }
        });
        await Task.WhenAll(opening);
        var openedIn = clock.Elapsed.TotalSeconds;
        using var list = new HttpRequestMessage(HttpMethod.Get, "api/sessions");
        list.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var listing = await http.SendAsync(list);
        listing.EnsureSuccessStatusCode();
        var listed = JsonSerializer.Deserialize(await listing.Content.ReadAsStringAsync(), ApiJsonContext.Default.IReadOnlyListSessionDto)!.Count(s => s.State == "open");
        var afterOpen = Memory(pid);

        var waveTimes = new List<double>();
        var commands = 0;
        for (var wave = 0; wave < Waves && sessions.Count >= Concurrent * Waves; wave++)
        {
            var batch = sessions.Skip(wave * Concurrent).Take(Concurrent).ToList();
            var start = Stopwatch.GetTimestamp();
            await Task.WhenAll(batch.Select(async s =>
            {
                try
                {
                    var answer = await client.WithToken(s.Token).ProposeAsync(s.Session.Id, new ProposalRequest("exec", "sleep", ["1"]), wait: true);
                    Interlocked.Increment(ref commands);
                    if (answer.Result?.ExitCode != 0)
                    {
                        errors.Add($"sleep 1: {answer.Status}, {answer.Decision.Reason}, {answer.Result}");
                    }
                }
                catch (Exception ex) when (ex is ApiaryClientException or HttpRequestException)
                {
                    errors.Add("sleep 1: " + ex.Message);
                }
            }));
            waveTimes.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        var afterRun = Memory(pid);
        var first = openTimes.Take(100).ToList();
        var last = openTimes.Skip(Math.Max(0, openTimes.Count - 100)).ToList();
        foreach (var error in errors.Take(5))
        {
            Console.Error.WriteLine("  error: " + error);
        }

        Report(errors.IsEmpty && listed >= Sessions,
            $"{Sessions} sessions opened on one 'apiary up' process (10 at a time) in {openedIn:F1} s, {listed} listed open; {Waves} waves of {Concurrent} 'sleep 1' at once ({commands} commands, each wave {string.Join(" / ", waveTimes.Select(t => t.ToString("F0", CultureInfo.InvariantCulture)))} ms); {errors.Count} errors (target: none)");
        Report(true,
            $"server process memory (VmRSS): {before.Rss} MiB before, {afterOpen.Rss} MiB with {Sessions} sessions open, {afterRun.Rss} MiB after the commands, peak {afterRun.Peak} MiB (recorded, no target); session open p50 {Percentile(openTimes, 0.5):F1} ms, p99 {Percentile(openTimes, 0.99):F1} ms; median of the first 100 opened {Median(first):F1} ms, of the last 100 {Median(last):F1} ms");

        foreach (var s in sessions)
        {
            await client.CloseSessionAsync(s.Session.Id);
        }
    }

    internal static (long Rss, long Peak) Memory(int pid)
    {
        long rss = 0, peak = 0;
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kilobytes(line) / 1024;
            }
            else if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                peak = Kilobytes(line) / 1024;
            }
        }

        return (rss, peak);
    }

    private static long Kilobytes(string line) =>
        long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);

    private static double Median(List<double> values) => Percentile(values, 0.5);

    internal static double Percentile(List<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Min(sorted.Length - 1, (int)(sorted.Length * p))];
    }
}
