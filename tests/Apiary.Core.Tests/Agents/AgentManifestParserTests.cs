using Apiary.Agents;
using Apiary.Configuration;

namespace Apiary.Tests.Agents;

public sealed class AgentManifestParserTests
{
    private const string File = "/home/op/.apiary/agents/coder/AGENTS.md";

    [Fact]
    public void Parse_EveryField_ReadsThemAll()
    {
        var result = AgentManifestParser.Parse(
            """
            ---
            description: Writes code
            role: manager
            model: local/llama3.2
            tool_profile: coding
            workspace: ~/projects/app
            template: default
            allowed_recipients: [coder, operator]
            budget:
              commands: 200
              wall_time: 1h30m
              tokens: 300_000
              cost_usd: 1.50
            ---
            # Body
            """,
            File);

        Assert.True(result.Succeeded);
        Assert.Empty(result.Diagnostics);
        var m = result.Manifest!;
        Assert.Equal("Writes code", m.Description);
        Assert.Equal(AgentRole.Manager, m.Role);
        Assert.Equal("local/llama3.2", m.Model);
        Assert.Equal("coding", m.ToolProfile);
        Assert.Equal("~/projects/app", m.Workspace);
        Assert.Equal("default", m.Template);
        Assert.Equal(["coder", "operator"], m.AllowedRecipients!);
        Assert.Equal(new AgentBudget(200, TimeSpan.FromMinutes(90), 300_000, 1.50m), m.Budget);
        Assert.Equal("# Body", result.Body);
    }

    [Fact]
    public void Parse_NoFrontmatter_EmptyManifestAndWholeBody()
    {
        var result = AgentManifestParser.Parse("# Just text\n\nrole: manager\n", File);
        Assert.Same(AgentManifest.Empty, result.Manifest);
        Assert.Equal("# Just text\n\nrole: manager\n", result.Body);
        Assert.Empty(result.Diagnostics);
    }

    [Fact]
    public void Parse_RoleLeftOut_StaysUnsetSoDefaultsApplyLater()
    {
        var result = AgentManifestParser.Parse("---\ndescription: x\n---\nbody", File);
        Assert.Null(result.Manifest!.Role);
        Assert.Null(result.Manifest.Model);
    }

    [Fact]
    public void Parse_CrlfAndByteOrderMark_Handled()
    {
        var result = AgentManifestParser.Parse("\uFEFF---\r\nrole: worker\r\n---\r\nBody line\r\n", File);
        Assert.Equal(AgentRole.Worker, result.Manifest!.Role);
        Assert.Equal("Body line\r\n", result.Body);
    }

    [Fact]
    public void Parse_UnclosedFence_ErrorAtLineOneNoFallback()
    {
        var result = AgentManifestParser.Parse("---\nrole: worker\n# Body that never closes\n", File);
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Diagnostics);
        Assert.Equal(DiagnosticSeverity.Error, error.Severity);
        Assert.Equal((File, 1, 1), (error.File, error.Line, error.Column));
        Assert.Contains("never closed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_MalformedYaml_ErrorNamesFileLineAndColumn()
    {
        // Line 4 of the file (the third line of YAML) has an unclosed flow sequence.
        var result = AgentManifestParser.Parse("---\nrole: worker\ndescription: ok\nallowed_recipients: [coder, operator\n---\nbody", File);
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Equal(File, error.File);
        Assert.InRange(error.Line!.Value, 4, 5);
        Assert.NotNull(error.Column);
        Assert.StartsWith($"{File}:{error.Line}:{error.Column}: error: malformed YAML", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_TabIndentation_ErrorWithPosition()
    {
        var result = AgentManifestParser.Parse("---\nbudget:\n\tcommands: 1\n---\n", File);
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Diagnostics);
        Assert.Equal(3, error.Line);
    }

    [Fact]
    public void Parse_InvalidRole_ErrorAtTheValue()
    {
        var result = AgentManifestParser.Parse("---\ndescription: d\nrole: boss\n---\n", File);
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Diagnostics);
        Assert.Equal((3, 7), (error.Line, error.Column));
        Assert.Contains("'manager' or 'worker', not 'boss'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownField_WarningNamesFieldAndFileAndSuggests()
    {
        var result = AgentManifestParser.Parse("---\nrole: worker\ntool_profil: coding\ncolour: blue\n---\n", File);
        Assert.True(result.Succeeded);
        Assert.Equal(2, result.Diagnostics.Count);
        Assert.All(result.Diagnostics, d => Assert.Equal(DiagnosticSeverity.Warning, d.Severity));
        Assert.All(result.Diagnostics, d => Assert.Equal(File, d.File));
        Assert.Contains("'tool_profil'", result.Diagnostics[0].Message, StringComparison.Ordinal);
        Assert.Contains("did you mean 'tool_profile'", result.Diagnostics[0].Message, StringComparison.Ordinal);
        Assert.Equal(3, result.Diagnostics[0].Line);
        Assert.Contains("'colour'", result.Diagnostics[1].Message, StringComparison.Ordinal);
        Assert.Null(result.Manifest!.ToolProfile);
    }

    [Fact]
    public void Parse_UnknownBudgetField_WarnsWithItsPath()
    {
        var result = AgentManifestParser.Parse("---\nbudget: { comands: 5 }\n---\n", File);
        var warning = Assert.Single(result.Diagnostics);
        Assert.Contains("'budget.comands'", warning.Message, StringComparison.Ordinal);
        Assert.Contains("did you mean 'budget.commands'", warning.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("policies: [coder]")]
    [InlineData("policies:\n  - coder\n  - shared")]
    [InlineData("policies: []")]
    public void Parse_RetiredPoliciesField_WarnsAtItsLineAndStillLoads(string field)
    {
        var result = AgentManifestParser.Parse($"---\nrole: worker\n{field}\n---\n# Body\n", File);

        Assert.True(result.Succeeded);
        var warning = Assert.Single(result.Diagnostics);
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Equal((File, 3, 1), (warning.File, warning.Line, warning.Column));
        Assert.Contains("field 'policies' is no longer used", warning.Message, StringComparison.Ordinal);
        Assert.Contains("every file in the home's policies/ applies to every agent", warning.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("model: llama3", "'endpoint/model'")]
    [InlineData("model: local/", "'endpoint/model'")]
    [InlineData("model: \"local/llama 3\"", "'endpoint/model'")]
    [InlineData("budget: { commands: -1 }", "whole number")]
    [InlineData("budget: { commands: lots }", "whole number")]
    [InlineData("budget: { wall_time: 30 }", "duration")]
    [InlineData("budget: { wall_time: 0s }", "more than zero")]
    [InlineData("budget: { cost_usd: -2 }", "US dollars")]
    [InlineData("budget: 5", "mapping")]
    [InlineData("allowed_recipients: coder", "must be a list")]
    [InlineData("allowed_recipients: [\"../x\"]", "neither an agent name nor 'operator'")]
    [InlineData("template: [a]", "single value, not a list")]
    [InlineData("description: \"  \"", "must not be empty")]
    [InlineData("role: worker\nrole: manager", "Duplicate key")]
    public void Parse_InvalidValue_ErrorAndNoManifest(string yaml, string messagePart)
    {
        var result = AgentManifestParser.Parse($"---\n{yaml}\n---\nbody", File);
        Assert.False(result.Succeeded);
        Assert.Null(result.Manifest);
        var error = Assert.Single(result.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Contains(messagePart, error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(File, error.File);
        Assert.NotNull(error.Line);
    }

    [Theory]
    [InlineData("- role\n- worker")]
    [InlineData("just a string")]
    public void Parse_FrontmatterNotAMapping_Error(string yaml)
    {
        var result = AgentManifestParser.Parse($"---\n{yaml}\n---\n", File);
        Assert.False(result.Succeeded);
        Assert.Contains("mapping", Assert.Single(result.Diagnostics).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EmptyValue_WarnsAndLeavesItUnset()
    {
        var result = AgentManifestParser.Parse("---\nmodel:\nrole: worker\n---\n", File);
        Assert.True(result.Succeeded);
        Assert.Null(result.Manifest!.Model);
        var warning = Assert.Single(result.Diagnostics);
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Contains("'model' has no value", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EmptyFrontmatter_EmptyManifest()
    {
        var result = AgentManifestParser.Parse("---\n---\nBody", File);
        Assert.True(result.Succeeded);
        Assert.Equal("Body", result.Body);
    }

    [Fact]
    public void Parse_DuplicateRecipient_WarnsAndKeepsOne()
    {
        var result = AgentManifestParser.Parse("---\nallowed_recipients: [coder, coder]\n---\n", File);
        Assert.Equal(["coder"], result.Manifest!.AllowedRecipients!);
        Assert.Single(result.Diagnostics);
    }

    [Fact]
    public void Parse_BodyNeverContainsTheFrontmatter()
    {
        var result = AgentManifestParser.Parse("---\nmodel: secret-endpoint/model\n---\n\nVisible body\n", File);
        Assert.DoesNotContain("secret-endpoint", result.Body, StringComparison.Ordinal);
        Assert.Contains("Visible body", result.Body, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_SecondDocumentInFrontmatter_Error()
    {
        var result = AgentManifestParser.Parse("---\nrole: worker\n...\n---\nrole: manager\n---\n", File);

        // '...' closes the frontmatter, so the rest is body: the second document never becomes configuration.
        Assert.True(result.Succeeded);
        Assert.Equal(AgentRole.Worker, result.Manifest!.Role);
        Assert.Contains("role: manager", result.Body, StringComparison.Ordinal);
    }
}
