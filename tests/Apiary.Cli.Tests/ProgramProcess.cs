using System.Diagnostics;

namespace Apiary.Cli.Tests;

/// <summary>Runs the real, built <c>apiary</c> program (<c>dotnet apiary.dll</c>) as a child process.</summary>
internal static class ProgramProcess
{
    /// <summary>How long one run may take before the test fails; generous, since a cold start on a busy machine is slow.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>The program, copied beside the tests because the test project references Apiary.Cli.</summary>
    public static string ProgramPath => Path.Combine(AppContext.BaseDirectory, "apiary.dll");

    /// <summary>
    /// Runs <c>apiary</c> with <paramref name="args"/> in <paramref name="workingDirectory"/>, with <c>HOME</c> set to
    /// <paramref name="userHome"/> and <c>APIARY_HOME</c> to <paramref name="apiaryHome"/> (or unset when null).
    /// </summary>
    public static async Task<CliResult> RunAsync(string workingDirectory, string userHome, string? apiaryHome, params string[] args)
    {
        var start = new ProcessStartInfo(DotnetHost())
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(ProgramPath);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment["HOME"] = userHome;
        start.Environment.Remove("APIARY_HOME");
        if (apiaryHome is not null)
        {
            start.Environment["APIARY_HOME"] = apiaryHome;
        }

        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Timeout);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return new CliResult(process.ExitCode, await output, await error);
    }

    /// <summary>The <c>dotnet</c> host running the tests, so the child uses the same runtime.</summary>
    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
}
