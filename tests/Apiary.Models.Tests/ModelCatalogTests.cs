using Apiary.Secrets;
using Apiary.Testing;

namespace Apiary.Models.Tests;

public sealed class ModelCatalogTests : IDisposable
{
    private readonly TestHome _home = new();

    public void Dispose() => _home.Dispose();

    private string ModelsPath => ModelsFile.PathIn(_home.Home);

    private async Task<ModelCatalog> LoadAsync(string? yaml, Func<string, string?>? environment = null)
    {
        if (yaml is not null)
        {
            await File.WriteAllTextAsync(ModelsPath, yaml, TestContext.Current.CancellationToken);
        }

        return await ModelCatalog.LoadAsync(
            _home.Home, new FileSecretStore(_home.Home), new ModelCatalogOptions { Environment = environment ?? (_ => null) }, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Resolve_NoModelsFile_SaysWhatToCreate()
    {
        using var catalog = await LoadAsync(null);

        var ex = Assert.Throws<ModelConfigurationException>(() => catalog.Resolve("local/llama3.2"));

        Assert.Contains($"create {ModelsPath}", ex.Message, StringComparison.Ordinal);
        Assert.Contains("provider: openai", ex.Message, StringComparison.Ordinal);
        Assert.Contains("docs/models.md", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resolve_SampleHomeFile_LoadsCleanAndSaysToAddAnEndpoint()
    {
        await _home.Home.InitializeAsync(TestContext.Current.CancellationToken);
        var (_, diagnostics) = await ModelsFile.LoadAsync(_home.Home, TestContext.Current.CancellationToken);
        Assert.Empty(diagnostics);
        using var catalog = await LoadAsync(null);

        var ex = Assert.Throws<ModelConfigurationException>(() => catalog.Resolve(null));

        Assert.StartsWith($"no models are configured: add an endpoint to {ModelsPath}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_FileWithErrors_ThrowsWithFileLineAndColumn()
    {
        var ex = await Assert.ThrowsAsync<ModelConfigurationException>(() => LoadAsync("endpoints:\n  x: { provider: gemini }\n"));

        Assert.Contains($"{ModelsPath}:2:18: error: 'endpoints.x.provider' must be one of openai, anthropic", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resolve_Default_BindsEndpointModelAndPrice()
    {
        using var catalog = await LoadAsync("""
            default: local/llama3.2
            endpoints:
              local: { provider: openai, base_url: "http://127.0.0.1:11434/v1" }
            prices:
              local/llama3.2: { input: 0, output: 0.5 }
            """);

        var binding = catalog.Resolve(null);

        Assert.Equal("local", binding.Endpoint);
        Assert.Equal("llama3.2", binding.Model);
        Assert.Equal("local/llama3.2", binding.Reference);
        Assert.Equal(new ModelPrice(0m, 0.5m), binding.Price);
        Assert.Same(binding.Client, catalog.Resolve("local/llama3.2").Client);
        Assert.Null(catalog.Resolve("local/other").Price);
    }

    [Fact]
    public async Task Resolve_UnknownEndpoint_NamesTheKnownOnes()
    {
        using var catalog = await LoadAsync("""
            endpoints:
              local: { provider: openai, base_url: "http://127.0.0.1:11434/v1" }
              claude: { provider: anthropic, api_key_secret: ANTHROPIC_API_KEY }
            """);

        var ex = Assert.Throws<ModelConfigurationException>(() => catalog.Resolve("openai/gpt-4o"));

        Assert.Equal($"model 'openai/gpt-4o' names endpoint 'openai', which {ModelsPath} does not configure; known endpoints: claude, local", ex.Message);
    }

    [Fact]
    public async Task Resolve_NoModelAndNoDefault_SaysToSetOne()
    {
        using var catalog = await LoadAsync("endpoints:\n  local: { provider: openai, base_url: \"http://h/v1\" }\n");

        var ex = Assert.Throws<ModelConfigurationException>(() => catalog.Resolve(null));

        Assert.Contains("add 'default: endpoint/model'", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resolve_NotEndpointSlashModel_SaysTheShape()
    {
        using var catalog = await LoadAsync("endpoints:\n  local: { provider: openai, base_url: \"http://h/v1\" }\n");

        var ex = Assert.Throws<ModelConfigurationException>(() => catalog.Resolve("llama3.2"));

        Assert.Equal("model 'llama3.2' must be endpoint/model, such as local/llama3.2", ex.Message);
    }

    [Fact]
    public async Task Resolve_KeySecretNotSet_SaysApiarySecretsSet()
    {
        using var catalog = await LoadAsync("endpoints:\n  claude: { provider: anthropic, api_key_secret: ANTHROPIC_API_KEY }\n");

        var ex = Assert.Throws<ModelConfigurationException>(() => catalog.Resolve("claude/claude-sonnet-4-5"));

        Assert.Equal("endpoint 'claude' takes its key from secret ANTHROPIC_API_KEY, which is not set: run 'apiary secrets set ANTHROPIC_API_KEY'", ex.Message);
    }

    [Fact]
    public async Task Resolve_KeyEnvironmentVariableNotSet_SaysSo()
    {
        using var catalog = await LoadAsync("endpoints:\n  router: { provider: openai, base_url: \"http://h/v1\", api_key_env: ROUTER_KEY }\n");

        var ex = Assert.Throws<ModelConfigurationException>(() => catalog.Resolve("router/m"));

        Assert.StartsWith("endpoint 'router' takes its key from environment variable ROUTER_KEY, which is not set", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Resolve_AnthropicWithoutAnyKey_SaysToAddASecret()
    {
        using var catalog = await LoadAsync("endpoints:\n  claude: { provider: anthropic }\n");

        var ex = Assert.Throws<ModelConfigurationException>(() => catalog.Resolve("claude/claude-sonnet-4-5"));

        Assert.Contains("needs a key: add 'api_key_secret: NAME' to endpoints.claude", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RetryPolicy_DelayAfter_DoublesHonoursRetryAfterAndCaps()
    {
        var policy = new ModelRetryPolicy { BaseDelay = TimeSpan.FromSeconds(1), MaxDelay = TimeSpan.FromSeconds(10) };

        Assert.Equal(TimeSpan.FromSeconds(1), policy.DelayAfter(1, null));
        Assert.Equal(TimeSpan.FromSeconds(4), policy.DelayAfter(3, null));
        Assert.Equal(TimeSpan.FromSeconds(2), policy.DelayAfter(3, null, jitter: 0.5));
        Assert.Equal(TimeSpan.FromSeconds(10), policy.DelayAfter(8, null));
        Assert.Equal(TimeSpan.FromSeconds(7), policy.DelayAfter(1, TimeSpan.FromSeconds(7)));
        Assert.Equal(TimeSpan.FromSeconds(10), policy.DelayAfter(1, TimeSpan.FromMinutes(5)));
    }
}
