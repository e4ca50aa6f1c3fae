using Apiary.Benchmarks;
using BenchmarkDotNet.Running;

// "load": the whole-system measurements (concurrency, streaming); anything else goes to BenchmarkDotNet.
if (args is ["load", ..])
{
    return await LoadTests.RunAsync();
}

BenchmarkSwitcher.FromAssembly(typeof(SandboxStartBenchmarks).Assembly).Run(args);
return 0;
