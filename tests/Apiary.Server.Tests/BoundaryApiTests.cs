using System.Text;
using System.Text.Json;

namespace Apiary.Server.Tests;

/// <summary>
/// The boundary attacked through the API, as an agent or a client would: values that try to become sandbox options,
/// a search path that swaps an allowed program for the agent's own, variables that make git run the agent's code, more
/// time than the template gives, and secrets the template does not declare. And what an approver sees is what runs.
/// </summary>
public sealed class BoundaryApiTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Attack_NulInEnvValueThatWouldBindHostRoot_400NamingTheFieldAndNothingDecided()
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();

        var response = await PostAsync(t, session.Session.Id, new ProposalRequest(
            "exec", Command: "ls", Args: ["/hostroot"], Env: new Dictionary<string, string> { ["X"] = "a\0--bind\0/\0/hostroot\0--share-net" }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("env X holds a NUL character", problem, StringComparison.Ordinal);
        var events = await t.Http.GetStringAsync($"/api/events?stream=session-{session.Session.Id}", Ct);
        Assert.DoesNotContain("proposal.decided", events, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("model_call")]
    [InlineData("start_agent")]
    [InlineData("stop_agent")]
    [InlineData("restart_agent")]
    [InlineData("update_agent")]
    [InlineData("spawn_agent")]
    [InlineData("send_message")]
    public async Task Attack_ControlPlaneKindSubmittedAsASessionProposal_400_NothingDecided(string kind)
    {
        // The built-in rule 'control-plane' allows these kinds when no rule names them; a session must never submit one.
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();

        var response = await PostAsync(t, session.Session.Id, new ProposalRequest(kind, Path: "."));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var problem = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(problem.Contains($"'kind' must be one of exec, read_file, write_file, list_dir, not '{kind}'", StringComparison.Ordinal), problem);
        var events = await t.Http.GetStringAsync($"/api/events?stream=session-{session.Session.Id}", Ct);
        Assert.DoesNotContain("proposal.decided", events, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("command", "{\"kind\":\"exec\",\"command\":\"ls\\u0000--bind\"}")]
    [InlineData("args[1]", "{\"kind\":\"exec\",\"command\":\"echo\",\"args\":[\"ok\",\"\\u001b[2Jhidden\"]}")]
    [InlineData("args[0]", "{\"kind\":\"exec\",\"command\":\"echo\",\"args\":[\"\\ud800\"]}")]
    [InlineData("workdir", "{\"kind\":\"exec\",\"command\":\"ls\",\"workdir\":\"src\\u0000\"}")]
    [InlineData("workdir", "{\"kind\":\"exec\",\"command\":\"ls\",\"workdir\":\"../..\"}")]
    [InlineData("env name", "{\"kind\":\"exec\",\"command\":\"ls\",\"env\":{\"A\\u0000B\":\"v\"}}")]
    [InlineData("path", "{\"kind\":\"read_file\",\"path\":\"notes\\u0000.txt\"}")]
    [InlineData("secrets", "{\"kind\":\"exec\",\"command\":\"ls\",\"secrets\":[\"S\\u0000--bind\"]}")]
    [InlineData("timeout_seconds", "{\"kind\":\"exec\",\"command\":\"ls\",\"timeout_seconds\":\"10\"}")]
    public async Task Attack_BadCharacterInAnyValue_400NamingTheField(string field, string body)
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();

        var response = await t.Http.PostAsync($"/api/sessions/{session.Session.Id}/proposals", new StringContent(body, Encoding.UTF8, "application/json"), Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(field, await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attack_SearchPathToTheAgentsOwnCat_DeniedAndTheAllowedCatIsTheSystemOne()
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();
        var workspace = session.Session.Workspace;
        Directory.CreateDirectory(Path.Combine(workspace, "bin"));
        var fake = Path.Combine(workspace, "bin", "cat");
        await File.WriteAllTextAsync(fake, "#!/bin/sh\necho PWNED\n", Ct);
        File.SetUnixFileMode(fake, (UnixFileMode)0x1ED);
        await File.WriteAllTextAsync(Path.Combine(workspace, "notes.txt"), "plain notes\n", Ct);

        var hijacked = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "cat", Args: ["notes.txt"], Env: new Dictionary<string, string> { ["PATH"] = "/workspace/bin:/usr/bin" }));
        var direct = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "bin/cat", Args: ["notes.txt"]));
        var plain = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "cat", Args: ["notes.txt"]));

        // Either way it is denied: the search path resolves to the agent's own program, which no rule allows.
        Assert.Equal("denied", hijacked.Status);
        Assert.Equal("default-deny", hijacked.Decision.Rule);
        Assert.Equal("denied", direct.Status);
        Assert.Equal("default-deny", direct.Decision.Rule);
        Assert.Equal("completed", plain.Status);
        Assert.Equal("plain notes\n", plain.Result!.Stdout);

        // The decision saw the program the sandbox ran, not the name that was asked for.
        var explain = await t.Http.GetStringAsync($"/api/proposals/{plain.Id}/explain", Ct);
        Assert.Contains("\"program\":\"/usr/bin/cat\"", explain, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GIT_EXTERNAL_DIFF", "/workspace/evil.sh")]
    [InlineData("GIT_CONFIG_COUNT", "1")]
    [InlineData("GIT_SSH_COMMAND", "/workspace/evil.sh")]
    [InlineData("LD_PRELOAD", "/workspace/evil.so")]
    [InlineData("BASH_ENV", "/workspace/evil.sh")]
    [InlineData("PYTHONSTARTUP", "/workspace/evil.py")]
    [InlineData("NODE_OPTIONS", "--require /workspace/evil.js")]
    [InlineData("PERL5OPT", "-Mevil")]
    public async Task Attack_VariableThatRunsTheAgentsCode_DeniedUnlessARuleNamesIt(string name, string value)
    {
        await using var t = await TestServer.StartAsync();
        var session = await t.OpenSessionAsync();

        var denied = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "ls", Env: new Dictionary<string, string> { [name] = value }));

        Assert.Equal("denied", denied.Status);
        Assert.Equal("risky-env", denied.Decision.Rule);
        Assert.Contains(name, denied.Decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARuleThatNamesAVariable_AllowsIt()
    {
        await using var t = await TestServer.StartWithPolicyAsync("env.yaml", """
            rules:
              - name: printenv-with-lang
                priority: 200
                match: { kind: exec, command: printenv, env: ['LC_ALL', 'PATH=/usr/bin:/bin'] }
                risk: low
                tier: allow
            """);
        var session = await t.OpenSessionAsync();

        var allowed = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "printenv", Args: ["PATH"], Env: new Dictionary<string, string> { ["PATH"] = "/usr/bin:/bin", ["LC_ALL"] = "C" }));
        var other = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "printenv", Env: new Dictionary<string, string> { ["PATH"] = "/workspace/bin:/usr/bin" }));

        Assert.Equal("completed", allowed.Status);
        Assert.Equal("/usr/bin:/bin\n", allowed.Result!.Stdout);
        Assert.Equal("denied", other.Status);
    }

    [Fact]
    public async Task Attack_MoreTimeThanTheTemplateGives_DeniedUnlessARuleAllowsIt()
    {
        await using var t = await TestServer.StartWithPolicyAsync("long.yaml", """
            rules:
              - name: long-sleeps
                priority: 200
                match: { kind: exec, command: sleep, args: '0.1' }
                max_timeout: 15m
                risk: low
                tier: allow
            """);
        var session = await t.OpenSessionAsync();

        var raised = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "date", TimeoutSeconds: 600));
        var allowed = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "sleep", Args: ["0.1"], TimeoutSeconds: 600));
        var tooMuch = await t.ProposeAsync(session.Session.Id, new ProposalRequest("exec", Command: "sleep", Args: ["0.1"], TimeoutSeconds: 1200));

        Assert.Equal("denied", raised.Status);
        Assert.Equal("template-limits", raised.Decision.Rule);
        Assert.True(allowed.Status == "completed", $"{allowed.Decision.Rule}: {allowed.Decision.Reason}");
        Assert.Equal("denied", tooMuch.Status);
        Assert.Contains("at most 900s", tooMuch.Decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Attack_SecretTheTemplateDoesNotDeclare_400AndTheValueNeverRecorded()
    {
        await using var t = await TestServer.StartAsync(prepare: async home =>
            await new Secrets.FileSecretStore(new Home.ApiaryHome(home, Path.GetDirectoryName(home)!)).SetAsync("ADMIN_TOKEN", "admin-value-7781", Ct));
        var session = await t.OpenSessionAsync();

        var response = await PostAsync(t, session.Session.Id, new ProposalRequest("exec", Command: "printenv", Args: ["ADMIN_TOKEN"], Secrets: ["ADMIN_TOKEN"]));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not declared by the sandbox template 'default'", await response.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.DoesNotContain("admin-value-7781", await t.Http.GetStringAsync("/api/events", Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApproverSeesEverythingThatRuns_AndWhatRunsIsExactlyThat()
    {
        await using var t = await TestServer.StartWithPolicyAsync("ask.yaml", """
            rules:
              - name: ask-for-cat
                priority: 200
                match: { kind: exec, command: [cat, printenv], env: [GREETING] }
                max_timeout: 10m
                risk: medium
                tier: approve
            """);
        var session = await t.OpenSessionAsync();
        Directory.CreateDirectory(Path.Combine(session.Session.Workspace, "sub"));

        var pending = await t.ProposeAsync(session.Session.Id, new ProposalRequest(
            "exec", Command: "cat", Workdir: "sub", Env: new Dictionary<string, string> { ["GREETING"] = "hello there" }, Stdin: "input the approver can read\n", TimeoutSeconds: 300), wait: false);
        Assert.Equal("pending_approval", pending.Status);

        var tickets = await t.Http.GetFromJsonAsync("/api/approvals", ApiJsonContext.Default.IReadOnlyListTicketDto, Ct);
        var ticket = Assert.Single(tickets!);
        Assert.Equal("/usr/bin/cat", ticket.CommandLine);
        var details = ticket.Details!;
        Assert.Equal("/usr/bin/cat", details.Program);
        Assert.Equal("hello there", details.Env["GREETING"]);
        Assert.Equal("input the approver can read\n", details.Stdin!.Text);
        Assert.Equal(28, details.Stdin.Bytes);
        Assert.Equal("sub", details.Workdir);
        Assert.Equal("default", details.Template);
        Assert.Equal(300, details.TimeoutSeconds);
        Assert.Contains(details.Lines(), line => line.StartsWith("env: GREETING='hello there'", StringComparison.Ordinal));

        var approve = await t.Http.PostAsync($"/api/approvals/{ticket.Ticket}/approve", null, Ct);
        Assert.Equal(HttpStatusCode.OK, approve.StatusCode);
        var done = await WaitForAsync(t, pending.Id);
        Assert.Equal("input the approver can read\n", done.Result!.Stdout);

        var explain = await t.Http.GetStringAsync($"/api/proposals/{pending.Id}/explain", Ct);
        using var record = JsonDocument.Parse(explain);
        var inputs = record.RootElement.GetProperty("inputs").GetProperty("details");
        Assert.Equal("hello there", inputs.GetProperty("env").GetProperty("GREETING").GetString());
        Assert.Equal("sub", inputs.GetProperty("workdir").GetString());
    }

    private static Task<HttpResponseMessage> PostAsync(TestServer t, string session, ProposalRequest request) =>
        t.Http.PostAsJsonAsync($"/api/sessions/{session}/proposals?wait=true", request, ApiJsonContext.Default.ProposalRequest, Ct);

    private static async Task<ProposalDto> WaitForAsync(TestServer t, string id)
    {
        var response = await t.Http.GetAsync($"/api/proposals/{id}/output", HttpCompletionOption.ResponseHeadersRead, Ct);
        await response.Content.ReadAsStringAsync(Ct);
        return await t.GetProposalAsync(id);
    }
}
