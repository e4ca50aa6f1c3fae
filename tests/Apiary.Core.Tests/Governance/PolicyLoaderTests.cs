using Apiary.Agents;
using Apiary.Governance;
using Apiary.Testing;
using static Apiary.Tests.Governance.GovernanceTestData;
using Apiary.Configuration;

namespace Apiary.Tests.Governance;

public sealed class PolicyLoaderTests
{
    [Theory]
    [InlineData("    risk: low\n    tier: alow\n", 6, 11, "'rule 'r'.tier' must be one of allow, approve, deny, steer, not 'alow'")]
    [InlineData("    risk: low\n    tier: deny\n", 6, 11, "'rule 'r'.message' is required for tier 'deny'")]
    [InlineData("    tier: allow\n    risk: huge\n", 6, 11, "'rule 'r'.risk' must be one of low, medium, high, critical")]
    [InlineData("    risk: low\n    tier: allow\n    priority: lots\n", 7, 15, "'rule 'r'.priority' must be a whole number")]
    [InlineData("    risk: low\n    tier: allow\n    colour: red\n", 7, 5, "unknown field 'rule 'r'.colour'")]
    [InlineData("    risk: low\n    tier: escalate\n", 6, 11, "'rule 'r'.tier' must be one of")]
    [InlineData("    risk: low\n    tier: allow\n    auto_approve: { arg: x }\n", 7, 19, "'rule 'r'.auto_approve' only applies to tier 'approve'")]
    [InlineData("    risk: low\n    tier: deny\n    message: no\n    escalate: { arg: x }\n", 8, 15, "'rule 'r'.escalate' only applies to tier 'allow'")]
    public void Parse_BadRuleField_ReportsFileLineColumnAndField(string tail, int line, int column, string message)
    {
        var yaml = "# test\nrules:\n  - name: r\n    match: { kind: exec }\n" + tail;

        var error = SingleError(yaml);

        Assert.Equal(("policies/test.yaml", line, column), (error.File, error.Line, error.Column));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ comand: ls }", 1, 14, "unknown field 'rules[0].match.comand'")]
    [InlineData("{ kind: run }", 1, 20, "'rules[0].match.kind' must be one of exec, read_file")]
    [InlineData("{ role: boss }", 1, 20, "'rules[0].match.role' must be 'worker' or 'manager'")]
    [InlineData("{ command: 're:(' }", 1, 23, "is not a valid regular expression")]
    [InlineData("{ path: '../etc/**' }", 1, 20, "must not contain '..'")]
    [InlineData("{ command: [] }", 1, 23, "empty list")]
    [InlineData("[exec]", 1, 12, "'rules[0].match' must be a mapping")]
    public void Parse_BadMatch_PointsAtTheValue(string match, int lineOffset, int column, string message)
    {
        var yaml = $"rules:\n  - match: {match}\n    name: r\n    priority: 1\n    risk: low\n    tier: allow\n";

        var error = SingleError(yaml);

        Assert.Equal((1 + lineOffset, column), (error.Line, error.Column));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ hours: 9-5 }", "must be a range of 24-hour times")]
    [InlineData("{ weekdays: [monday] }", "must list days as sun, mon")]
    [InlineData("{ session_count: { min: 5, max: 1 } }", "min 5 above max 1")]
    [InlineData("{ session_count: 3 }", "must be a range such as")]
    [InlineData("{ sometimes: true }", "unknown field 'rule 'r'.when.sometimes'")]
    [InlineData("{ all: [] }", "must be a non-empty list of conditions")]
    [InlineData("[]", "must be a condition such as")]
    public void Parse_BadCondition_IsAnError(string when, string message)
    {
        var yaml = Rules(Rule("r", 1, "{}", extra: $"when: {when}"));

        Assert.Contains(message, SingleError(yaml).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ConditionsNestedTooDeep_IsAnErrorAtTheDeepestLevel()
    {
        static string Nest(int depth) => depth == 1 ? "{ arg: x }" : $"{{ not: {Nest(depth - 1)} }}";

        Assert.True(PolicyLoader.Parse("p.yaml", Rules(Rule("r", 1, "{}", extra: $"when: {Nest(PolicyLoader.MaxConditionDepth)}"))).Succeeded);
        var error = SingleError(Rules(Rule("r", 1, "{}", extra: $"when: {Nest(PolicyLoader.MaxConditionDepth + 1)}")));
        Assert.Contains("deeper than 8 levels", error.Message, StringComparison.Ordinal);
        Assert.Equal(8, error.Line);
    }

    [Fact]
    public void Parse_MissingRequiredFields_AreErrors()
    {
        var result = PolicyLoader.Parse("p.yaml", "rules:\n  - priority: 1\n");

        Assert.False(result.Succeeded);
        var messages = string.Join("\n", result.Diagnostics.Select(d => d.Message));
        Assert.Contains("has no 'name'", messages, StringComparison.Ordinal);
        Assert.Contains("has no 'match'", messages, StringComparison.Ordinal);
        Assert.Contains("has no 'risk'", messages, StringComparison.Ordinal);
        Assert.Contains("has no 'tier'", messages, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_DuplicateNameAcrossFiles_IsAnErrorInTheSecond()
    {
        var result = PolicyLoader.Parse(
        [
            new PolicySource("policies/a.yaml", Rules(Rule("same", 1, "{}"))),
            new PolicySource("policies/b.yaml", Rules(Rule("same", 2, "{}"))),
        ]);

        var error = Assert.Single(result.Diagnostics);
        Assert.Equal(("policies/b.yaml", 2), (error.File, error.Line));
        Assert.Contains("already exists", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_TheReservedName_IsAnError() =>
        Assert.Contains("built-in rule", SingleError(Rules(Rule("default-deny", 1, "{}"))).Message, StringComparison.Ordinal);

    [Fact]
    public void Parse_MalformedYaml_ReportsThePosition()
    {
        var error = SingleError("rules:\n  - name: r\n   bad: [\n");

        Assert.Contains("malformed YAML", error.Message, StringComparison.Ordinal);
        Assert.NotNull(error.Line);
    }

    [Fact]
    public void Parse_AFlowMappingLeftOpenAtTheEnd_IsAnErrorAtItsLastLine_NotACrash()
    {
        // YamlDotNet's scanner throws InvalidOperationException here, with no position, instead of a YamlException.
        const string yaml = "rules:\n  - name: broken\n    match: { kind: exec\n    tier: allow\n";
        var error = SingleError(yaml);

        Assert.Contains("malformed YAML: the text ends inside an unclosed", error.Message, StringComparison.Ordinal);
        Assert.Equal(yaml.TrimEnd('\n').Split('\n').Length, error.Line);
    }

    [Fact]
    public void LoadDirectory_ReadsEveryYamlFileAndNamesThem()
    {
        using var folder = new TempDirectory();
        folder.Write("policies/b.yaml", Rules(Rule("b", 1, "{}")));
        folder.Write("policies/a.yaml", Rules(Rule("a", 1, "{}")));
        folder.Write("policies/c.yaml", "rules:\n  - name: c\n    tier: nope\n");
        folder.Write("policies/notes.txt", "not a policy");

        var result = PolicyLoader.LoadDirectory(folder["policies"]);

        Assert.False(result.Succeeded);
        Assert.All(result.Diagnostics, d => Assert.Equal("policies/c.yaml", d.File));
        File.Delete(folder["policies/c.yaml"]);
        Assert.Equal(["a", "b"], PolicyLoader.LoadDirectory(folder["policies"]).Policy!.RuleNames);
    }

    [Fact]
    public void LoadDirectory_MissingFolder_IsAnError() =>
        Assert.False(PolicyLoader.LoadDirectory("/nonexistent/policies").Succeeded);

    private static Diagnostic SingleError(string yaml)
    {
        var result = PolicyLoader.Parse("policies/test.yaml", yaml);
        Assert.False(result.Succeeded);
        return Assert.Single(result.Diagnostics, d => d.Severity == DiagnosticSeverity.Error);
    }

    [Fact]
    public void Parse_NegativePriority_AcceptedAndOrdersBelowZero()
    {
        var result = PolicyLoader.Parse("p.yaml", "rules:\n  - name: low\n    priority: -1000\n    match: {}\n    risk: low\n    tier: allow\n  - name: zero\n    priority: 0\n    match: {}\n    risk: low\n    tier: deny\n    message: no\n");
        Assert.True(result.Succeeded, string.Join("; ", result.Diagnostics));
        Assert.Equal(["zero", "low"], result.Policy!.RuleNames);
    }
}
