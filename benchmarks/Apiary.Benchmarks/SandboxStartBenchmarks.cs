using System.Diagnostics;
using Apiary.Protocol;
using Apiary.Sandbox;
using Apiary.Sandbox.Bubblewrap;
using BenchmarkDotNet.Attributes;

namespace Apiary.Benchmarks;

/// <summary>
/// Sandboxed <c>true</c> through the sandbox API, against the bare bubblewrap invocation with the same flags started
/// the same way (a .NET child process with redirected pipes), in the same run.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class SandboxStartBenchmarks
{
    private BubblewrapBackend _backend = null!;
    private ISandboxSession _session = null!;
    private string _workspace = null!;
    private string _runtime = null!;
    private List<string> _bareArgs = null!;
    private int _id;

    [GlobalSetup]
    public void Setup()
    {
        _backend = BubblewrapBackend.Create();
        _workspace = Directory.CreateTempSubdirectory("apiary-bench-").FullName;
        _runtime = Directory.CreateTempSubdirectory("apiary-bench-rt-").FullName;
        var user = SandboxUser.ForThisProcess();
        BubblewrapLauncher.WriteIdentityFiles(_runtime, user);

        // The same namespaces and mounts, run bare: no seccomp filter, no drop to the sandbox user, no starter.
        _bareArgs = [.. BubblewrapLauncher.SystemArguments(_runtime, user), "--bind", _workspace, "/workspace", "--chdir", "/", "--", "/usr/bin/true"];
        _session = _backend.OpenSessionAsync(new SandboxSessionOptions { Workspace = _workspace }).GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _session.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _backend.Dispose();
        Directory.Delete(_workspace, recursive: true);
        Directory.Delete(_runtime, recursive: true);
    }

    [Benchmark(Baseline = true, Description = "bare bwrap true")]
    public async Task<int> BareBwrap()
    {
        var start = new ProcessStartInfo("/usr/bin/bwrap") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in _bareArgs)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        await Task.WhenAll(stdout, stderr);
        return process.ExitCode;
    }

    [Benchmark(Description = "sandboxed true, cold (new session)")]
    public async Task<int> Cold()
    {
        await using var session = await _backend.OpenSessionAsync(new SandboxSessionOptions { Workspace = _workspace });
        return await RunTrue(session);
    }

    [Benchmark(Description = "sandboxed true, existing session")]
    public Task<int> Warm() => RunTrue(_session);

    private async Task<int> RunTrue(ISandboxSession session)
    {
        var code = -1;
        await foreach (var observation in session.ExecuteAsync(new ExecCommand { RequestId = $"b{Interlocked.Increment(ref _id)}", Command = "true" }))
        {
            if (observation is CompleteObservation complete)
            {
                code = complete.ExitCode ?? -1;
            }
            else if (observation is ErrorObservation error)
            {
                throw new InvalidOperationException(error.Message);
            }
        }

        return code == 0 ? 0 : throw new InvalidOperationException($"true exited {code}");
    }
}
