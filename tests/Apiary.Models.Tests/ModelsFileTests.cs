using Apiary.Agents;
using Apiary.Configuration;

namespace Apiary.Models.Tests;

public sealed class ModelsFileTests
{
    private const string File = "/home/models.yaml";

    private static (ModelsFile? File, IReadOnlyList<Diagnostic> Diagnostics) Parse(string yaml) => ModelsFile.Parse(yaml, File);

    [Fact]
    public void Parse_IssueExample_ReadsEndpointsDefaultAndPrices()
    {
        var (file, diagnostics) = Parse("""
            default: local/llama3.2
            endpoints:
              local:  { provider: openai, base_url: "http://127.0.0.1:11434/v1" }
              claude: { provider: anthropic, api_key_secret: ANTHROPIC_API_KEY }
              router: { provider: openai, base_url: "https://openrouter.ai/api/v1", api_key_env: OPENROUTER_KEY }
            prices:
              claude/claude-sonnet-4-5: { input: 3.00, output: 15.00 }
            """);

        Assert.Empty(diagnostics);
        Assert.Equal("local/llama3.2", file!.Default);
        Assert.Equal(new ModelEndpoint("local", ModelProvider.OpenAI, new Uri("http://127.0.0.1:11434/v1"), null, null), file.Endpoints["local"]);
        Assert.Equal(new ModelEndpoint("claude", ModelProvider.Anthropic, null, "ANTHROPIC_API_KEY", null), file.Endpoints["claude"]);
        Assert.Equal("OPENROUTER_KEY", file.Endpoints["router"].ApiKeyEnvironment);
        Assert.Equal(new ModelPrice(3.00m, 15.00m), file.Prices["claude/claude-sonnet-4-5"]);
    }

    [Fact]
    public void Parse_UnknownField_WarnsWithDidYouMeanAtItsPosition()
    {
        var (file, diagnostics) = Parse("""
            endpoints:
              local: { provider: openai, base_ur: "http://127.0.0.1:11434/v1" }
            """);

        var warning = Assert.Single(diagnostics);
        Assert.NotNull(file);
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Equal($"{File}:2:30: warning: unknown field 'endpoints.local.base_ur' is ignored; did you mean 'endpoints.local.base_url'?", warning.ToString());
    }

    [Fact]
    public void Parse_UnknownTopLevelField_SuggestsTheSection()
    {
        var (_, diagnostics) = Parse("defualt: local/x\nendpoints:\n  local: { provider: openai, base_url: \"http://h/v1\" }\n");

        Assert.Equal($"{File}:1:1: warning: unknown field 'defualt' is ignored; did you mean 'default'?", Assert.Single(diagnostics).ToString());
    }

    [Theory]
    [InlineData("endpoints:\n  x: { provider: gemini }\n", "2:18", "'endpoints.x.provider' must be one of openai, anthropic, not 'gemini'")]
    [InlineData("endpoints:\n  x: { provider: openai, base_url: ftp://h }\n", "2:36", "'endpoints.x.base_url' must be an absolute http:// or https:// URL, not 'ftp://h'")]
    [InlineData("endpoints:\n  x: { base_url: \"http://h\" }\n", "2:6", "'endpoints.x' needs a provider: openai or anthropic")]
    [InlineData("endpoints:\n  x: { provider: anthropic, api_key_secret: \"bad name\" }\n", "2:45", "'endpoints.x.api_key_secret' must name a secret")]
    [InlineData("default: llama\n", "1:10", "'default' must be endpoint/model, such as local/llama3.2, not 'llama'")]
    [InlineData("default: cloud/m\nendpoints:\n  local: { provider: openai, base_url: \"http://h/v1\" }\n", "1:10", "'default' names endpoint 'cloud', which is not configured; known endpoints: local")]
    [InlineData("prices:\n  a/b: { input: three, output: 1 }\n", "2:17", "'prices.a/b.input' must be a number of US dollars per million tokens, such as 3.00, not 'three'")]
    [InlineData("prices:\n  a/b: { input: 1 }\n", "2:8", "'prices.a/b' needs both input and output")]
    [InlineData("endpoints: [a, b]\n", "1:12", "'endpoints' must be a mapping of names to settings")]
    [InlineData("endpoints:\n\tlocal: {}\n", "2:1", "malformed YAML: a tab is used for indentation")]
    public void Parse_Error_NamesFileLineAndColumn(string yaml, string position, string message)
    {
        var (file, diagnostics) = Parse(yaml);

        Assert.Null(file);
        var error = Assert.Single(diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.StartsWith($"{File}:{position}: error: {message}", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void TrySplit_ModelWithSlashes_KeepsThemInTheModel()
    {
        Assert.True(ModelsFile.TrySplit("router/meta-llama/llama-3-70b", out var endpoint, out var model));
        Assert.Equal("router", endpoint);
        Assert.Equal("meta-llama/llama-3-70b", model);
        Assert.False(ModelsFile.TrySplit("/x", out _, out _));
        Assert.False(ModelsFile.TrySplit("x/", out _, out _));
    }
}
