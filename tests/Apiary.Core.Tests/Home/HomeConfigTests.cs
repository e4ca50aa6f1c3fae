using Apiary.Agents;
using Apiary.Home;

namespace Apiary.Tests.Home;

public sealed class HomeConfigTests
{
    private const string File = "/h/apiary.yaml";

    [Fact]
    public void Parse_DefaultsAndPrompt_Read()
    {
        var (config, diagnostics) = HomeConfig.Parse(
            "defaults:\n  model: local/m\n  budget: { commands: 3 }\nprompt:\n  section_chars: 1000\n  total_chars: 5000\n", File);
        Assert.Empty(diagnostics);
        Assert.Equal("local/m", config!.Defaults.Model);
        Assert.Equal(3, config.Defaults.Budget!.Commands);
        Assert.Equal((1000, 5000), (config.SectionChars, config.TotalChars));
    }

    [Fact]
    public void Parse_EmptyFile_NoDefaults()
    {
        var (config, diagnostics) = HomeConfig.Parse("# nothing yet\n", File);
        Assert.Empty(diagnostics);
        Assert.Equal(HomeConfig.Empty, config);
    }

    [Fact]
    public void Parse_AgentOnlyFieldInDefaults_WarnsAndIgnores()
    {
        var (config, diagnostics) = HomeConfig.Parse("defaults:\n  workspace: /srv/x\n", File);
        Assert.Null(config!.Defaults.Workspace);
        var warning = Assert.Single(diagnostics);
        Assert.Equal((DiagnosticSeverity.Warning, 2), (warning.Severity, warning.Line));
        Assert.Contains("'workspace'", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownSection_Warns()
    {
        var (_, diagnostics) = HomeConfig.Parse("defualts:\n  model: a/b\n", File);
        Assert.Contains("did you mean 'defaults'", Assert.Single(diagnostics).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("prompt:\n  section_chars: 10\n", "at least 256")]
    [InlineData("defaults:\n  role: boss\n", "'manager' or 'worker'")]
    [InlineData("defaults: [a]\n", "mapping")]
    [InlineData("defaults:\n  model: [\n", "malformed YAML")]
    public void Parse_Invalid_ErrorWithLine(string yaml, string messagePart)
    {
        var (config, diagnostics) = HomeConfig.Parse(yaml, File);
        Assert.Null(config);
        var error = Assert.Single(diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Contains(messagePart, error.Message, StringComparison.Ordinal);
        Assert.NotNull(error.Line);
    }
}
