using Apiary.Benchmarks;
using BenchmarkDotNet.Running;

// "load": sandbox concurrency and streaming; "policy-load": decisions/s on every core; "append-load": event store
// appends/s with 64 writers and single-append latency; "server-load": the server of issue 5 (readiness, exec through
// the API, SSE delivery, 1,000 sessions); anything else goes to BenchmarkDotNet.
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

if (args is ["server-load", ..])
{
    return await ServerLoad.RunAsync();
}

BenchmarkSwitcher.FromAssembly(typeof(SandboxStartBenchmarks).Assembly).Run(args);
return 0;
