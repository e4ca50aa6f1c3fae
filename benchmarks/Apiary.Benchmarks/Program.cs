using Apiary.Benchmarks;
using BenchmarkDotNet.Running;

// "load": sandbox concurrency and streaming; "policy-load": decisions/s on every core; anything else goes to BenchmarkDotNet.
if (args is ["load", ..])
{
    return await LoadTests.RunAsync();
}

if (args is ["policy-load", ..])
{
    return LoadTests.PolicyThroughput();
}

BenchmarkSwitcher.FromAssembly(typeof(SandboxStartBenchmarks).Assembly).Run(args);
return 0;
