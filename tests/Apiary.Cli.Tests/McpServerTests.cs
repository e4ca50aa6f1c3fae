using System.Diagnostics;
using System.Text.Json;
using Apiary.Testing;

namespace Apiary.Cli.Tests;

/// <summary>
/// <c>apiary mcp</c> driven by a real MCP client not written here: the official TypeScript SDK's client
/// (tests/mcp-client, installed with <c>npm ci --prefix tests/mcp-client</c>), spawning <c>apiary mcp</c> over stdio
/// against a real server.
/// </summary>
public sealed class McpServerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Mcp_OfficialTypeScriptClient_ListsToolsAndGetsGovernedResults()
    {
        // A policy with a pattern that backtracks catastrophically on one argument, which the client sends.
        await using var server = await RunningServer.StartAsync(home =>
            File.WriteAllTextAsync(Path.Combine(home, "policies", "stall.yaml"), AttackPolicies.CatastrophicRegex, TestContext.Current.CancellationToken));

        // The secret-leak evaluator reads the home's secrets again when they change.
        await new Apiary.Secrets.FileSecretStore(new Apiary.Home.ApiaryHome(server.HomeRoot, Path.GetDirectoryName(server.HomeRoot)!))
            .SetAsync("API_TOKEN", "tok-Mcp/Secret+Value=517", TestContext.Current.CancellationToken);

        using var report = await RunClientAsync(server.HomeRoot);
        var root = report.RootElement;

        Assert.Equal("apiary", root.GetProperty("server").GetProperty("name").GetString());
        var tools = root.GetProperty("tools").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!, t => t);
        Assert.Equal(["exec", "list_dir", "read_file", "write_file"], tools.Keys.Order(StringComparer.Ordinal));
        var exec = tools["exec"].GetProperty("inputSchema");
        Assert.Equal("array", exec.GetProperty("properties").GetProperty("args").GetProperty("type").GetString());
        Assert.Equal(["command"], exec.GetProperty("required").EnumerateArray().Select(e => e.GetString()));

        var calls = root.GetProperty("calls");
        var (echoError, echo) = Call(calls, "echo");
        Assert.False(echoError, echo);
        Assert.Contains("exit code: 0", echo, StringComparison.Ordinal);
        Assert.Contains("hello from mcp", echo, StringComparison.Ordinal);

        var (deniedError, denied) = Call(calls, "denied");
        Assert.True(deniedError, denied);
        Assert.Contains("denied", denied, StringComparison.Ordinal);
        Assert.Contains("rule: deny-rm-root", denied, StringComparison.Ordinal);
        Assert.Contains("deleting the root or home folder is never allowed", denied, StringComparison.Ordinal);

        var (pendingError, pending) = Call(calls, "pending");
        Assert.False(pendingError, pending);
        Assert.Contains("pending approval", pending, StringComparison.Ordinal);
        Assert.Matches(@"apiary approvals approve [0-9a-f]{32}", pending);

        var (traversalError, traversal) = Call(calls, "traversal");
        Assert.True(traversalError, traversal);
        Assert.DoesNotContain("root:x:0:0", traversal, StringComparison.Ordinal);

        var (writeError, write) = Call(calls, "write");
        Assert.False(writeError, write);
        var (readError, read) = Call(calls, "read");
        Assert.False(readError, read);
        Assert.Equal("written over MCP\n", read);
        var (_, list) = Call(calls, "list");
        Assert.Contains("hello.txt", list, StringComparison.Ordinal);

        AssertRefused(calls, "badArguments", "'command' is required");

        // The boundary's attacks fail through MCP exactly as through the API.
        AssertRefused(calls, "nulEnv", "env X holds a NUL character");
        AssertRefused(calls, "pathHijack", "denied");
        AssertRefused(calls, "gitExternalDiff", "rule: risky-env", "GIT_EXTERNAL_DIFF");
        AssertRefused(calls, "raisedTimeout", "rule: template-limits");
        AssertRefused(calls, "nulArg", "args[1] holds a NUL character (U+0000) at character 1");
        AssertRefused(calls, "regexStall", "denied", "rule 'allow-echo-catastrophic'", "timed out");
        var (nulWriteError, nulWrite) = Call(calls, "nulWrite");
        Assert.False(nulWriteError, nulWrite);
        Assert.Equal("a\0b", Call(calls, "nulRead").Text);
        AssertRefused(calls, "secretLeak", "denied", "secret API_TOKEN");

        // The control plane's tools are not tools of apiary mcp: each is refused as unknown, and nothing is proposed.
        foreach (var controlPlane in new[] { "startAgent", "modelCall", "spawnAgent" })
        {
            var attempt = calls.GetProperty(controlPlane);
            Assert.True(attempt.GetProperty("rejected").GetBoolean(), attempt.GetRawText());
            Assert.Contains("unknown tool", attempt.GetProperty("text").GetString(), StringComparison.Ordinal);
        }

        var kinds = await DecidedKindsAsync(server.HomeRoot);
        Assert.DoesNotContain(kinds, k => k is "start_agent" or "model_call" or "spawn_agent");
        Assert.Contains("exec", kinds);
    }

    /// <summary>The kinds of every proposal decided in the home's log.</summary>
    private static async Task<List<string>> DecidedKindsAsync(string home)
    {
        await using var store = await Apiary.Storage.Sqlite.SqliteEventStore.OpenAsync(Path.Combine(home, "events.db"), cancellationToken: TestContext.Current.CancellationToken);
        var kinds = new List<string>();
        await foreach (var e in store.ReadAllAsync(1, TestContext.Current.CancellationToken))
        {
            if (e.Type == "proposal.decided")
            {
                using var data = JsonDocument.Parse(e.Data);
                kinds.Add(data.RootElement.GetProperty("inputs").GetProperty("kind").GetString()!);
            }
        }

        return kinds;
    }

    private static void AssertRefused(JsonElement calls, string name, params string[] said)
    {
        var (isError, text) = Call(calls, name);
        Assert.True(isError, text);
        Assert.All(said, s => Assert.Contains(s, text, StringComparison.Ordinal));
    }

    private static (bool IsError, string Text) Call(JsonElement calls, string name)
    {
        var call = calls.GetProperty(name);
        return (call.GetProperty("isError").GetBoolean(), call.GetProperty("text").GetString()!);
    }

    private static async Task<JsonDocument> RunClientAsync(string home)
    {
        var clientDirectory = Path.Combine(RepositoryRoot(), "tests", "mcp-client");
        if (!Directory.Exists(Path.Combine(clientDirectory, "node_modules", "@modelcontextprotocol", "sdk")))
        {
            Assert.Fail($"the MCP test client's dependencies are not installed in {clientDirectory}; run 'npm ci --prefix tests/mcp-client' (.ci/run does)");
        }

        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = clientDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])["client.mjs", "--dotnet", DotnetHost(), "--program", ProgramProcess.ProgramPath, "--home", home, "--agent", "coder"])
        {
            start.ArgumentList.Add(arg);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(Timeout);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("could not start node");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Assert.Fail($"cannot run 'node' ({ex.Message}); the MCP test needs Node.js 18 or later and 'npm ci --prefix tests/mcp-client'");
            throw;
        }

        using (process)
        {
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

            var (stdout, stderr) = (await output, await error);
            Assert.True(process.ExitCode == 0, $"the MCP client failed with exit code {process.ExitCode}\nstdout:\n{stdout}\nstderr:\n{stderr}");
            try
            {
                return JsonDocument.Parse(stdout);
            }
            catch (JsonException ex)
            {
                throw new Xunit.Sdk.XunitException($"the MCP client's output is not JSON ({ex.Message}):\n{stdout}\nstderr:\n{stderr}");
            }
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Apiary.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Apiary.slnx above {AppContext.BaseDirectory}");
    }

    private static string DotnetHost() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host)
            ? host
            : Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : "dotnet";
}
