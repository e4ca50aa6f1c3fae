using System.Text.Json;
using Apiary.Cli.Mcp;
using Apiary.Client;
using Apiary.Contracts;
using ModelContextProtocol.Protocol;

namespace Apiary.Cli.Tests;

public sealed class McpToolsTests
{
    [Fact]
    public void Definitions_FourTools_EachWithObjectSchemaAndDescription()
    {
        Assert.Equal(["exec", "read_file", "write_file", "list_dir"], McpTools.Definitions.Select(t => t.Name));
        Assert.All(McpTools.Definitions, t =>
        {
            Assert.False(string.IsNullOrWhiteSpace(t.Description));
            Assert.Equal("object", t.InputSchema.GetProperty("type").GetString());
            Assert.False(t.InputSchema.GetProperty("additionalProperties").GetBoolean());
        });
    }

    [Fact]
    public void Definitions_Exec_DescribesEveryArgument()
    {
        var schema = McpTools.Definitions.Single(t => t.Name == "exec").InputSchema;
        var properties = schema.GetProperty("properties");

        Assert.Equal(["command"], schema.GetProperty("required").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["command", "args", "workdir", "env", "stdin", "timeout_seconds"], properties.EnumerateObject().Select(p => p.Name));
        Assert.Equal("array", properties.GetProperty("args").GetProperty("type").GetString());
        Assert.Equal("string", properties.GetProperty("args").GetProperty("items").GetProperty("type").GetString());
        Assert.Equal("string", properties.GetProperty("env").GetProperty("additionalProperties").GetProperty("type").GetString());
        Assert.Equal("integer", properties.GetProperty("timeout_seconds").GetProperty("type").GetString());
    }

    [Fact]
    public void ToProposal_Exec_MapsEveryArgument()
    {
        var (request, problem) = McpTools.ToProposal("exec", Args("""
            {"command":"git","args":["log","-1"],"workdir":"src","env":{"A":"1"},"stdin":"in","timeout_seconds":30}
            """));

        Assert.Null(problem);
        Assert.NotNull(request);
        Assert.Equal("exec", request.Kind);
        Assert.Equal("git", request.Command);
        Assert.Equal(["log", "-1"], request.Args!);
        Assert.Equal("src", request.Workdir);
        Assert.Equal("1", request.Env!["A"]);
        Assert.Equal("in", request.Stdin);
        Assert.Equal(30, request.TimeoutSeconds);
    }

    [Theory]
    [InlineData("exec", """{"args":["x"]}""", "'command' is required")]
    [InlineData("exec", """{"command":"ls","args":"-la"}""", "'args' must be an array of strings")]
    [InlineData("exec", """{"command":"ls","env":{"A":1}}""", "'env' must be an object whose values are strings")]
    [InlineData("exec", """{"command":"ls","timeout_seconds":0}""", "'timeout_seconds' must be a whole number")]
    [InlineData("exec", """{"command":"ls","shell":true}""", "exec has no argument 'shell'")]
    [InlineData("read_file", """{}""", "'path' is required")]
    [InlineData("write_file", """{"path":"a"}""", "'content' is required")]
    public void ToProposal_WrongArguments_SaysWhatToFix(string tool, string json, string expected)
    {
        var (request, problem) = McpTools.ToProposal(tool, Args(json));

        Assert.Null(request);
        Assert.Contains(expected, problem, StringComparison.Ordinal);
    }

    [Fact]
    public void ToProposal_ListDirWithoutPath_ListsWorkspace()
    {
        var (request, _) = McpTools.ToProposal("list_dir", null);

        Assert.Equal(new ProposalRequest("list_dir", Path: "."), request);
    }

    [Fact]
    public void From_Denied_IsErrorWithDecisionRuleAndReason()
    {
        var result = McpToolResults.From(new ProposalDto("p-1", "s-1", "coder", "exec", "denied",
            new DecisionDto("deny", "policy", "deny-rm-root", "critical", "deleting the root or home folder is never allowed")));

        Assert.True(result.IsError);
        var text = Text(result);
        Assert.Contains("denied", text, StringComparison.Ordinal);
        Assert.Contains("rule: deny-rm-root", text, StringComparison.Ordinal);
        Assert.Contains("reason: deleting the root or home folder is never allowed", text, StringComparison.Ordinal);
    }

    [Fact]
    public void From_Pending_IsNotErrorAndGivesTicketAndApproveCommand()
    {
        var result = McpToolResults.From(new ProposalDto("p-2", "s-1", "coder", "exec", "pending_approval",
            new DecisionDto("pending", "approval", "approve-system-packages", "high", "installing packages changes the system", "t-42")));

        Assert.False(result.IsError);
        var text = Text(result);
        Assert.Contains("pending approval", text, StringComparison.Ordinal);
        Assert.Contains("ticket: t-42", text, StringComparison.Ordinal);
        Assert.Contains("apiary approvals approve t-42", text, StringComparison.Ordinal);
        Assert.Contains("rule: approve-system-packages", text, StringComparison.Ordinal);
    }

    [Fact]
    public void From_CompletedExec_GivesExitCodeStdoutAndStderr()
    {
        var result = McpToolResults.From(new ProposalDto("p-3", "s-1", "coder", "exec", "completed",
            new DecisionDto("allow", "record", "allow-inspection", "low"),
            new ResultDto(3, "exited", 5, Stdout: "out-text", Stderr: "err-text")));

        Assert.False(result.IsError);
        Assert.Equal("exit code: 3\nduration: 5 ms\nstdout:\nout-text\nstderr:\nerr-text", Text(result));
    }

    [Fact]
    public void From_TimedOutExec_IsError()
    {
        var result = McpToolResults.From(new ProposalDto("p-4", "s-1", "coder", "exec", "completed",
            new DecisionDto("allow", "record", "r", "low"), new ResultDto(null, "timed_out", 1000)));

        Assert.True(result.IsError);
        Assert.Contains("ended: timed_out", Text(result), StringComparison.Ordinal);
    }

    private static Dictionary<string, JsonElement> Args(string json) =>
        JsonDocument.Parse(json).RootElement.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone());

    private static string Text(CallToolResult result) => Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
}
