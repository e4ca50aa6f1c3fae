using System.Text.Json;
using Apiary.Runtime;
using Apiary.Client;

namespace Apiary.Cli.Tests;

public sealed class AgentsListCommandTests : IAsyncDisposable
{
    /// <summary>An AGENTS.md whose YAML is malformed at line 3, column 9 (a second ': ' in a plain value).</summary>
    internal const string MalformedManifest = "---\nrole: worker\nmodel: a: b\n---\n# Broken\n";

    private readonly CliRunner _cli = new();

    public ValueTask DisposeAsync() => _cli.DisposeAsync();

    [Fact]
    public async Task List_SampleHome_ShowsBothAgentsWithRoleAndModel()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "list");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Error);
        var header = result.OutLines[0];
        Assert.Matches(@"^NAME\s+ROLE\s+STATE\s+MODEL\s+TEMPLATE\s+FILES\s+STATUS", header);
        Assert.Matches(@"^coder\s+worker\s+stopped\s+local/qwen2\.5-coder\s+default\s+.*\sok\s*$", result.Row("coder"));
        Assert.Matches(@"^manager\s+manager\s+stopped\s+claude/claude-sonnet-4-5\s+default\s+7/7\s.*\sok\s*$", result.Row("manager"));
    }

    [Fact]
    public async Task List_AfterARunFailedOnItsOwn_ShowsWhyAndThatItIsNotRestarted_InTextAndJson()
    {
        var model = new Apiary.Server.Tests.ScriptedChatClient().Fail();
        await _cli.InitAsync();
        var server = await _cli.StartServerAsync(models: new Apiary.Server.Tests.ScriptedModelCatalog(model));
        var run = await _cli.RunAsync("run", "coder", "count the files");
        Assert.Equal(ExitCodes.RunFailed, run.ExitCode);
        await WaitForStoppedAsync(server);

        var result = await _cli.RunAgentsAsync("agents", "list");
        var json = await _cli.RunAgentsAsync("agents", "list", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Matches(@"^coder\s+worker\s+stopped\s", result.Row("coder"));
        var line = Assert.Single(result.OutLines, l => l.StartsWith("coder: ", StringComparison.Ordinal));
        Assert.Matches(
            @"^coder: last run [0-9a-f]{8} failed at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ: model call 1 failed: the endpoint answered 503 Service Unavailable; not restarted: the run ended on its own$",
            line);
        Assert.DoesNotContain(result.OutLines, l => l.StartsWith("manager: ", StringComparison.Ordinal));

        using var document = json.Json();
        var coder = document.RootElement.GetProperty("agents").EnumerateArray().Single(a => a.GetProperty("name").GetString() == "coder");
        var failure = coder.GetProperty("last_failure");
        Assert.Equal(
            ("failed", "model call 1 failed: the endpoint answered 503 Service Unavailable", false, "not restarted: the run ended on its own"),
            (failure.GetProperty("status").GetString(), failure.GetProperty("reason").GetString(), failure.GetProperty("crashed").GetBoolean(), failure.GetProperty("restart").GetString()));
    }

    /// <summary>Waits, on the server's live event stream, for the supervisor to record the coder stopped after its run.</summary>
    private static async Task WaitForStoppedAsync(RunningServer server)
    {
        using var http = new HttpClient { BaseAddress = new Uri(server.Server.Url + "/") };
        using var client = new ApiaryClient(http, server.Server.OperatorToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await foreach (var e in client.FollowEventsAsync(new EventFilter(Stream: "lifecycle-coder"), afterPosition: 0, cancellationToken: timeout.Token))
        {
            if (e.Type == "agent.state_changed" && e.Data.GetProperty("to").GetString() == "stopped" && e.Data.GetProperty("reason").GetString()!.Contains("ended failed", StringComparison.Ordinal))
            {
                return;
            }
        }
    }

    [Fact]
    public async Task List_Json_HasSnakeCaseFieldsForEachAgent()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAgentsAsync("agents", "list", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        Assert.Equal(_cli.HomeRoot, json.RootElement.GetProperty("home").GetString());
        var agents = json.RootElement.GetProperty("agents").EnumerateArray().ToDictionary(a => a.GetProperty("name").GetString()!);
        Assert.Equal(["coder", "manager"], agents.Keys.Order(StringComparer.Ordinal));

        var coder = agents["coder"];
        Assert.Equal("worker", coder.GetProperty("role").GetString());
        Assert.Equal("local/qwen2.5-coder", coder.GetProperty("model").GetString());
        Assert.Equal("default", coder.GetProperty("template").GetString());
        Assert.Equal("coding", coder.GetProperty("tool_profile").GetString());
        Assert.Equal("ok", coder.GetProperty("status").GetString());
        Assert.Equal(_cli.AgentDirectory("coder"), coder.GetProperty("directory").GetString());
        Assert.Equal(["SOUL.md", "AGENTS.md", "TOOLS.md", "BOOTSTRAP.md"], coder.GetProperty("files").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal(JsonValueKind.Array, coder.GetProperty("diagnostics").ValueKind);
        Assert.Empty(coder.GetProperty("diagnostics").EnumerateArray());
        Assert.False(coder.TryGetProperty("toolProfile", out _), "JSON fields must be snake_case");
        Assert.False(coder.TryGetProperty("ToolProfile", out _), "JSON fields must be snake_case");

        var manager = agents["manager"];
        Assert.Equal("manager", manager.GetProperty("role").GetString());
        Assert.Equal("claude/claude-sonnet-4-5", manager.GetProperty("model").GetString());
        Assert.Equal(7, manager.GetProperty("files").GetArrayLength());
    }

    [Fact]
    public async Task List_BrokenAgent_ListedAsErrorWithFileLineColumnAndOthersStillOk()
    {
        await _cli.InitAsync();
        var manifest = _cli.WriteAgentFile("manager", "AGENTS.md", MalformedManifest);

        var result = await _cli.RunAgentsAsync("agents", "list");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^manager\s+-\s+stopped\s+-\s+-\s+-\s+error \(1\)\s*$", result.Row("manager"));
        Assert.Matches(@"^coder\s+worker\s+stopped\s+local/qwen2\.5-coder\s.*\sok\s*$", result.Row("coder"));
        var error = Assert.Single(result.ErrorLines);
        Assert.StartsWith($"{manifest}:3:9: error: malformed YAML", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_BrokenAgentJson_StatusErrorWithDiagnosticLocation()
    {
        await _cli.InitAsync();
        var manifest = _cli.WriteAgentFile("manager", "AGENTS.md", MalformedManifest);

        var result = await _cli.RunAgentsAsync("agents", "list", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        var agents = json.RootElement.GetProperty("agents").EnumerateArray().ToDictionary(a => a.GetProperty("name").GetString()!);
        Assert.Equal("ok", agents["coder"].GetProperty("status").GetString());
        var manager = agents["manager"];
        Assert.Equal("error", manager.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, manager.GetProperty("role").ValueKind);
        var diagnostic = Assert.Single(manager.GetProperty("diagnostics").EnumerateArray());
        Assert.Equal("error", diagnostic.GetProperty("severity").GetString());
        Assert.Equal(manifest, diagnostic.GetProperty("file").GetString());
        Assert.Equal(3, diagnostic.GetProperty("line").GetInt32());
        Assert.Equal(9, diagnostic.GetProperty("column").GetInt32());
        Assert.Contains("malformed YAML", diagnostic.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_FolderWithInvalidName_SkippedWithWarningNamingIt()
    {
        await _cli.InitAsync();
        var bad = _cli.WriteAgentFile("bad.name", "AGENTS.md", "---\nrole: worker\n---\nbody\n");

        var result = await _cli.RunAgentsAsync("agents", "list");

        Assert.Equal(0, result.ExitCode);
        Assert.DoesNotContain("bad.name", result.Out, StringComparison.Ordinal);
        Assert.Contains(result.ErrorLines, l => l.Contains("bad.name", StringComparison.Ordinal) && l.Contains("warning", StringComparison.Ordinal) && l.Contains("skipped", StringComparison.Ordinal));
        Assert.Contains(Path.GetDirectoryName(bad)!, result.Error, StringComparison.Ordinal);
        Assert.Matches(@"^coder\s", result.Row("coder"));
        Assert.Matches(@"^manager\s", result.Row("manager"));
    }

    [Fact]
    public async Task List_FolderWithInvalidNameJson_WarningInTopLevelDiagnostics()
    {
        await _cli.InitAsync();
        Directory.CreateDirectory(_cli.AgentDirectory("bad.name"));

        var result = await _cli.RunAgentsAsync("agents", "list", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        Assert.DoesNotContain(json.RootElement.GetProperty("agents").EnumerateArray(), a => a.GetProperty("name").GetString() == "bad.name");
        var warning = Assert.Single(json.RootElement.GetProperty("diagnostics").EnumerateArray());
        Assert.Equal("warning", warning.GetProperty("severity").GetString());
        Assert.Equal(_cli.AgentDirectory("bad.name"), warning.GetProperty("file").GetString());
    }

    [Fact]
    public async Task List_EmptyAgentsFolder_SaysHowToCreateOne()
    {
        Directory.CreateDirectory(Path.Combine(_cli.HomeRoot, "agents"));

        var result = await _cli.RunAgentsAsync("agents", "list");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("No agents in", result.Out, StringComparison.Ordinal);
        Assert.Contains("apiary agents new", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_BrokenHomeConfig_ServerRefusesToStartNamingTheFileAndListSaysNoServer()
    {
        await _cli.InitAsync();
        var config = Path.Combine(_cli.HomeRoot, "apiary.yaml");
        await File.WriteAllTextAsync(config, "prompt:\n  section_chars: 10\n", TestContext.Current.CancellationToken);

        // The server reads apiary.yaml when it starts ('apiary up'), and will not serve a home whose config is broken.
        var refused = await Assert.ThrowsAsync<Apiary.Runtime.ServerStartException>(() => _cli.StartServerAsync());
        Assert.Contains($"{config}:2:", refused.Message, StringComparison.Ordinal);
        Assert.Contains("section_chars", refused.Message, StringComparison.Ordinal);

        var result = await _cli.RunAsync("agents", "list");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no Apiary server is running", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }
}
