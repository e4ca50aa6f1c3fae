using System.Text.Json;
using Apiary.Events;
using Apiary.Governance;
using Apiary.Runtime.LiveConfig;
using Microsoft.Extensions.Logging;

namespace Apiary.Server.Tests;

/// <summary>
/// The configuration is reloaded while the server runs: real files of a real home are edited under a real server, and
/// each test waits for the reload's event (never for a time) before it looks at what the server does.
/// </summary>
public sealed class LiveConfigTests() : InMemoryServerTest("apiary-live-config")
{
    // Denies every listing, above the sample's allow-workspace-reads.
    private const string DenyListings = """
        rules:
          - name: deny-listings
            priority: 2000
            match: { kind: list_dir }
            risk: low
            tier: deny
            message: no listings today
        """;

    private const string Broken = """
        rules:
          - name: broken
            match: { kind: list_dir }
            risk: low
            tier: sometimes
        """;

    private ILoggerFactory? _logging;
    private CapturingLoggerProvider? _log;

    private string Policies => Path.Combine(HomePath, "policies");

    public override async ValueTask InitializeAsync()
    {
        await new Apiary.Home.ApiaryHome(HomePath, Root.Path).InitializeAsync(Ct);
        _logging = CapturingLoggerProvider.CreateFactory(out _log);
    }

    [Fact]
    public async Task PolicyEdit_Valid_ChangesTheNextDecision_RecordsTheNewVersion_AndTheDecisionCarriesIt()
    {
        await StartWithLogAsync();
        var session = await Host.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct);
        var before = await ListAsync(session.Session.Id);
        var loaded = await Runtime.WaitForEventAsync(ConfigEventTypes.Loaded);

        await File.WriteAllTextAsync(Path.Combine(Policies, "zz-listings.yaml"), DenyListings, Ct);
        var reloaded = await Runtime.WaitForEventAsync(ConfigEventTypes.Reloaded, ("part", ConfigParts.Policies));
        var after = await ListAsync(session.Session.Id);

        var expected = PolicyLoader.VersionOf(PolicyLoader.ReadDirectory(Policies)!);
        Assert.Equal(("allow", "allow-workspace-reads"), (before.Decision.Decision, before.Decision.Rule));
        Assert.Equal(("deny", "deny-listings"), (after.Decision.Decision, after.Decision.Rule));
        Assert.Equal(expected, LogWaiter.Field(reloaded, "version"));
        Assert.Equal(LogWaiter.Field(loaded, "policies"), LogWaiter.Field(reloaded, "previous"));
        Assert.Equal(LogWaiter.Field(loaded, "policies"), await PolicyVersionOfAsync(before.Id));
        Assert.Equal(expected, await PolicyVersionOfAsync(after.Id));
        Assert.Equal(expected, Runtime.Live.VersionOf(ConfigParts.Policies));
        Assert.Contains(_log!.Entries, e => e.EventId.Id == 5015 && e.Message.Contains(expected, StringComparison.Ordinal));
    }

    [Fact]
    public async Task PolicyEdit_Invalid_KeepsThePreviousPolicies_RecordsTheErrors_AndWarnsInTheLogAndReadyz()
    {
        await StartWithLogAsync();
        var session = await Host.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct);
        var version = Runtime.Live.VersionOf(ConfigParts.Policies);

        await File.WriteAllTextAsync(Path.Combine(Policies, "zz-broken.yaml"), Broken, Ct);
        var failed = await Runtime.WaitForEventAsync(ConfigEventTypes.ReloadFailed, ("part", ConfigParts.Policies));
        var still = await ListAsync(session.Session.Id);

        Assert.Equal(("allow", "allow-workspace-reads"), (still.Decision.Decision, still.Decision.Rule));
        Assert.Equal(version, await PolicyVersionOfAsync(still.Id));
        Assert.Equal(version, LogWaiter.Field(failed, "kept"));
        var error = Assert.Single(JsonDocument.Parse(failed.Data).RootElement.GetProperty("errors").EnumerateArray()).GetString()!;
        Assert.Contains("zz-broken.yaml:5:", error, StringComparison.Ordinal);
        Assert.Contains("sometimes", error, StringComparison.Ordinal);
        Assert.Null(Runtime.PolicyProblem);
        Assert.Equal(ConfigParts.Policies, Assert.Single(Runtime.Live.Problems).Part);
        var warning = Assert.Single(_log!.Entries, e => e.EventId.Id == 5016);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Contains("zz-broken.yaml:5:", warning.Message, StringComparison.Ordinal);
        Assert.Contains("stay in force", warning.Message, StringComparison.Ordinal);
        var config = await ReadyCheckAsync("config");
        Assert.True(config.Ready);
        Assert.Contains("policies changed but cannot be loaded", config.Detail, StringComparison.Ordinal);
        Assert.Contains("zz-broken.yaml:5:", config.Detail, StringComparison.Ordinal);

        // Taking the broken file away loads the policies again: the same version as before, and the problem is gone.
        File.Delete(Path.Combine(Policies, "zz-broken.yaml"));
        var again = await Runtime.WaitForEventAsync(ConfigEventTypes.Reloaded, ("part", ConfigParts.Policies));
        Assert.Equal(version, LogWaiter.Field(again, "version"));
        Assert.Empty(Runtime.Live.Problems);
        Assert.Contains(_log.Entries, e => e.EventId.Id == 5017 && e.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task PolicyEdit_WrittenByRename_IsReloaded()
    {
        await StartWithLogAsync();
        var session = await Host.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct);

        // As editors save: a temporary file beside it, renamed over the original.
        var temporary = Path.Combine(Policies, ".zz-listings.yaml.tmp");
        await File.WriteAllTextAsync(temporary, DenyListings, Ct);
        File.Move(temporary, Path.Combine(Policies, "zz-listings.yaml"), overwrite: true);
        await Runtime.WaitForEventAsync(ConfigEventTypes.Reloaded, ("part", ConfigParts.Policies));

        Assert.Equal("deny-listings", (await ListAsync(session.Session.Id)).Decision.Rule);
    }

    [Fact]
    public async Task PoliciesBrokenAtStart_FixedWhileRunning_ProposalsAreServedWithoutARestart()
    {
        await File.WriteAllTextAsync(Path.Combine(Policies, "zz-broken.yaml"), Broken, Ct);
        await StartWithLogAsync();
        var session = await Host.Client.OpenSessionAsync(new OpenSessionRequest("coder"), Ct);
        var refused = await Assert.ThrowsAsync<ApiaryClientException>(() => ListAsync(session.Session.Id));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.Status);
        Assert.False((await ReadyCheckAsync("policies")).Ready);

        File.Delete(Path.Combine(Policies, "zz-broken.yaml"));
        var reloaded = await Runtime.WaitForEventAsync(ConfigEventTypes.Reloaded, ("part", ConfigParts.Policies));
        var served = await ListAsync(session.Session.Id);

        Assert.Null(LogWaiter.Field(reloaded, "previous"));
        Assert.Null(Runtime.PolicyProblem);
        Assert.Equal("allow", served.Decision.Decision);
        Assert.Equal(LogWaiter.Field(reloaded, "version"), await PolicyVersionOfAsync(served.Id));
        Assert.True((await ReadyCheckAsync("policies")).Ready);
    }

    [Fact]
    public async Task ModelsEdit_AddsAModel_TheNextRunUsesIt()
    {
        await using var model = await ScriptedModelServer.StartAsync(Ct);
        await StartWithLogAsync(ownModels: true);
        var none = await Assert.ThrowsAsync<ApiaryClientException>(() => Host.Client.StartRunAsync("coder", new StartRunRequest("x"), Ct));
        Assert.StartsWith("no models are configured", none.Detail, StringComparison.Ordinal);

        await File.WriteAllTextAsync(Path.Combine(HomePath, "models.yaml"), $$"""
            default: local/qwen2.5-coder
            endpoints:
              local: { provider: openai, base_url: "{{model.OpenAIBaseUri}}" }
            """, Ct);
        var reloaded = await Runtime.WaitForEventAsync(ConfigEventTypes.Reloaded, ("part", ConfigParts.Models));
        model.EnqueueText("hello from the new model");
        var run = await Host.Client.StartRunAsync("coder", new StartRunRequest("say hello"), Ct);
        var end = await Host.Client.LastStepOfRunAsync(run.Id);

        Assert.True(end.Status == "finished", $"{end.Status}: {end.Error}");
        Assert.Equal("hello from the new model", end.Answer);
        Assert.Single(model.Requests);
        Assert.Equal(Apiary.Configuration.ContentHash.Of("models.yaml", await File.ReadAllTextAsync(Path.Combine(HomePath, "models.yaml"), Ct)), LogWaiter.Field(reloaded, "version"));
    }

    [Fact]
    public async Task ModelsEdit_Invalid_KeepsTheModelsInForce_AndRecordsTheErrors()
    {
        await StartWithLogAsync(ownModels: true);

        await File.WriteAllTextAsync(Path.Combine(HomePath, "models.yaml"), "endpoints:\n  local: { provider: openia }\n", Ct);
        var failed = await Runtime.WaitForEventAsync(ConfigEventTypes.ReloadFailed, ("part", ConfigParts.Models));

        Assert.Contains("models.yaml:2:", failed.Data.Span.Length > 0 ? System.Text.Encoding.UTF8.GetString(failed.Data.Span) : "", StringComparison.Ordinal);
        Assert.Equal(ConfigParts.Models, Assert.Single(Runtime.Live.Problems).Part);
        Assert.Contains(_log!.Entries, e => e.EventId.Id == 5016 && e.Message.StartsWith("models changed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HomeConfigEdit_Valid_AppliesToAgentsLoadedNext_AndInvalid_KeepsIt()
    {
        await StartWithLogAsync();

        await File.AppendAllTextAsync(Path.Combine(HomePath, "apiary.yaml"), "\nmemory:\n  compact_at: 5000\n", Ct);
        await Runtime.WaitForEventAsync(ConfigEventTypes.Reloaded, ("part", ConfigParts.Config));
        Assert.Equal(5000, Runtime.Config.MemoryCompactAt);

        await File.AppendAllTextAsync(Path.Combine(HomePath, "apiary.yaml"), "prompt:\n  section_chars: many\n", Ct);
        await Runtime.WaitForEventAsync(ConfigEventTypes.ReloadFailed, ("part", ConfigParts.Config));
        Assert.Equal(5000, Runtime.Config.MemoryCompactAt);
        Assert.Equal(ConfigParts.Config, Assert.Single(Runtime.Live.Problems).Part);
    }

    [Fact]
    public async Task TemplateEdit_RecordsTheTemplatesVersion_AndABrokenTemplateIsReported()
    {
        await StartWithLogAsync();
        var templates = Path.Combine(HomePath, "templates");

        await File.WriteAllTextAsync(Path.Combine(templates, "quick.yaml"), "resources:\n  timeout: 30s\n", Ct);
        var reloaded = await Runtime.WaitForEventAsync(ConfigEventTypes.Reloaded, ("part", ConfigParts.Templates));
        Assert.Equal(LiveConfiguration.TemplatesVersion(new Apiary.Home.ApiaryHome(HomePath, Root.Path)), LogWaiter.Field(reloaded, "version"));

        await File.WriteAllTextAsync(Path.Combine(templates, "quick.yaml"), "resources:\n  memory_mb: 8\n", Ct);
        var failed = await Runtime.WaitForEventAsync(ConfigEventTypes.ReloadFailed, ("part", ConfigParts.Templates));
        Assert.Contains("quick.yaml:2:", System.Text.Encoding.UTF8.GetString(failed.Data.Span), StringComparison.Ordinal);
    }

    private async Task StartWithLogAsync(bool ownModels = false) =>
        await StartAsync(new ServerOptions
        {
            Home = HomePath,
            UserHome = Root.Path,
            ConfigureWebHost = web => Microsoft.AspNetCore.TestHost.WebHostBuilderExtensions.UseTestServer(web),
            Models = ownModels ? null : new ScriptedModelCatalog(Model),
            LoggerFactory = _logging,
        });

    private async Task<ProposalDto> ListAsync(string session) =>
        await Host.Client.ProposeAsync(session, new ProposalRequest("list_dir", Path: "."), wait: true, cancellationToken: Ct);

    private async Task<string?> PolicyVersionOfAsync(string proposal)
    {
        var explained = await Host.Client.ExplainAsync(proposal, Ct);
        return explained.TryGetProperty("policy_version", out var version) ? version.GetString() : null;
    }

    private async Task<ReadinessCheckDto> ReadyCheckAsync(string name)
    {
        // With a token, so that the checks say why (without one they say only ok or not).
        using var http = InMemoryServer.HttpClientOf(Host.Server, Host.Server.OperatorToken);
        using var response = await http.GetAsync("/readyz", Ct);
        var ready = await response.Content.ReadFromJsonAsync(ApiJsonContext.Default.ReadinessDto, Ct);
        return Assert.Single(ready!.Checks, c => c.Name == name);
    }
}
