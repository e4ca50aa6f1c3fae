namespace Apiary.Cli.Tests;

public sealed class DoctorCommandTests : IDisposable
{
    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Doctor_ThisMachine_ReportsEveryCheckAndSandboxUsable()
    {
        var result = await _cli.RunAsync("doctor");
        Assert.Equal(0, result.ExitCode);
        foreach (var check in new[] { "bubblewrap", "namespace:user", "namespace:pid", "namespace:net", "cgroup:memory", "cgroup:pids", "rlimits", "openat2" })
        {
            Assert.Contains(check, result.Out, StringComparison.Ordinal);
        }

        Assert.Contains("Sandboxes can run on this machine.", result.Out, StringComparison.Ordinal);
        Assert.Contains("not created yet", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Doctor_Json_ParsesWithStatuses()
    {
        var result = await _cli.RunAsync("doctor", "--json");
        using var json = result.Json();
        Assert.True(json.RootElement.GetProperty("sandbox_usable").GetBoolean());
        var checks = json.RootElement.GetProperty("checks").EnumerateArray().ToList();
        Assert.Contains(checks, c => c.GetProperty("name").GetString() == "bubblewrap" && c.GetProperty("status").GetString() == "ok");
    }
}
