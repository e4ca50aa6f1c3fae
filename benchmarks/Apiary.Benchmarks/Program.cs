using Apiary.Benchmarks;
using BenchmarkDotNet.Running;

// "load": sandbox concurrency and streaming; "policy-load": decisions/s on every core; "append-load": event store
// appends/s with 64 writers and single-append latency; "server-load": the server of issue 5 (readiness, exec through
// the API, SSE delivery, 1,000 sessions); "messaging-load": 100 agents exchanging 10,000 messages through the server;
// anything else goes to BenchmarkDotNet.
if (args is ["load", ..])
{
    return await LoadTests.RunAsync();
}

if (args is ["policy-load", ..])
{
    return LoadTests.PolicyThroughput();
}

if (args is ["append-load", ..])
{
    return await AppendLoad.RunAsync();
}

if (args is ["messaging-load", ..])
{
    return await MessagingLoad.RunAsync();
}

if (args is ["server-load", ..])
{
    return await ServerLoad.RunAsync();
}

// "dashboard-load": the dashboard in headless chromium (issue 7): a ticket shown after its proposal, a new event shown
// after its append, the overview of 200 agents and 10,000 events loaded to live.
if (args is ["dashboard-load", ..])
{
    return await DashboardLoad.RunAsync();
}

// "run-load": the turn loop's overhead per turn with an instant model, against a bare loop (issue 6).
if (args is ["run-load", ..])
{
    return await RunLoad.RunAsync();
}

// "throughput-load": issue 14 item 8: 5,000 echo proposals at concurrency 50 through 'apiary up' against the same in
// process, and one exec as a whole curl process against curl of /healthz and bare bubblewrap.
if (args is ["throughput-load", ..])
{
    return await ThroughputLoad.RunAsync(args);
}

// "soak": the server's memory over 10,000 proposals with large outputs (issue 14).
if (args is ["soak", ..])
{
    return await SoakLoad.RunAsync(args);
}

BenchmarkSwitcher.FromAssembly(typeof(SandboxStartBenchmarks).Assembly).Run(args);
return 0;
