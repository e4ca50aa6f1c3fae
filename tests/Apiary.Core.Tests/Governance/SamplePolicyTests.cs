using Apiary.Agents;
using Apiary.Governance;
using Apiary.Testing;
using static Apiary.Tests.Governance.GovernanceTestData;

namespace Apiary.Tests.Governance;

/// <summary>The policies that <c>apiary init</c> writes, loaded from a real initialized home.</summary>
public sealed class SamplePolicyTests : IAsyncLifetime
{
    private readonly TestHome _home = new();
    private PolicyEngine _engine = null!;

    public async ValueTask InitializeAsync()
    {
        await _home.Home.InitializeAsync(TestContext.Current.CancellationToken);
        var result = PolicyLoader.LoadDirectory(_home.Home.PoliciesDirectory);
        Assert.True(result.Succeeded, string.Join("\n", result.Diagnostics));
        Assert.Empty(result.Diagnostics);
        _engine = new PolicyEngine(result.Policy!);
    }

    public ValueTask DisposeAsync()
    {
        _home.Dispose();
        return ValueTask.CompletedTask;
    }

    [Theory]
    [InlineData("ls", "-la")]
    [InlineData("cat", "README.md")]
    [InlineData("grep", "-rn", "TODO", "src")]
    [InlineData("echo", "hello")]
    [InlineData("head", "-n", "5", "a.txt")]
    [InlineData("tail", "a.txt")]
    [InlineData("wc", "-l", "a.txt")]
    [InlineData("find", ".", "-name", "*.cs")]
    [InlineData("/usr/bin/ls")]
    public void ReadOnlyInspection_IsAllowed(string command, params string[] args) =>
        AssertDecision(DecisionKind.Allow, Exec(command, args));

    [Theory]
    [InlineData(".")]
    [InlineData("src/a.cs")]
    public void WorkspaceReadsAndLists_AreAllowed(string path)
    {
        AssertDecision(DecisionKind.Allow, Read(path), "allow-workspace-reads");
        AssertDecision(DecisionKind.Allow, Proposal.ListDir(Coder, Workspace, path), "allow-workspace-reads");
    }

    [Theory]
    [InlineData("../../../../../etc/shadow")]
    [InlineData("/etc/passwd")]
    [InlineData("../other-agent/secret.txt")]
    public void ReadsOutsideTheWorkspace_AreDenied(string path) =>
        AssertDecision(DecisionKind.Deny, Read(path), Policy.DefaultDenyRule);

    [Theory]
    [InlineData("approve-system-packages", "apt", "install", "-y", "jq")]
    [InlineData("approve-system-packages", "apt-get", "update")]
    [InlineData("approve-package-managers", "pip", "install", "requests")]
    [InlineData("approve-package-managers", "npm", "install", "left-pad")]
    [InlineData("approve-package-managers", "npm", "i")]
    [InlineData("approve-package-managers", "npm", "in", "left-pad")]
    [InlineData("approve-package-managers", "npm", "isntall", "left-pad")]
    [InlineData("approve-package-managers", "npm", "update")]
    [InlineData("approve-package-managers", "npm", "exec", "cowsay")]
    [InlineData("approve-package-managers", "npm", "run", "build")]
    [InlineData("approve-package-managers", "npm", "test")]
    [InlineData("approve-package-managers", "npx", "cowsay")]
    [InlineData("approve-package-managers", "yarn", "add", "left-pad")]
    [InlineData("approve-package-managers", "cargo", "build")]
    [InlineData("approve-git", "git", "push", "origin", "main")]
    [InlineData("approve-git", "git", "-C", "repo", "push")]
    [InlineData("approve-git", "git", "status")]
    [InlineData("approve-git", "git", "diff")]
    [InlineData("approve-git", "git", "log", "-p")]
    [InlineData("approve-network-tools", "curl", "https://example.com")]
    [InlineData("approve-network-tools", "wget", "https://example.com")]
    [InlineData("approve-network-tools", "ssh", "host")]
    [InlineData("allow-inspection", "find", ".", "-delete")]
    [InlineData("allow-inspection", "find", ".", "-exec", "rm", "{}", ";")]

    public void ChangesOutsideTheWorkspace_NeedApproval(string rule, string command, params string[] args) =>
        AssertDecision(DecisionKind.Pending, Exec(command, args), rule);

    [Theory]
    [InlineData("deny-rm-root", "rm", "-rf", "/")]
    [InlineData("deny-rm-root", "rm", "-r", "-f", "/")]
    [InlineData("deny-rm-root", "/bin/rm", "-rf", "/*")]
    [InlineData("deny-rm-root", "rm", "-rf", "~")]
    [InlineData("deny-rm-root", "rm", "-rf", "--no-preserve-root", "/")]
    [InlineData("deny-mkfs", "mkfs", "/dev/sda1")]
    [InlineData("deny-mkfs", "mkfs.ext4", "/dev/sda1")]
    [InlineData("deny-dd-to-device", "dd", "if=/dev/zero", "of=/dev/sda", "bs=1M")]
    public void DestructivePatterns_AreDenied(string rule, string command, params string[] args)
    {
        var decision = _engine.Decide(Exec(command, args), Context);

        Assert.Equal((DecisionKind.Deny, rule), (decision.Kind, decision.Rule));
        Assert.Equal(RiskLevel.Critical, decision.Risk);
        Assert.False(string.IsNullOrEmpty(decision.Reason));
    }

    [Theory]
    [InlineData("rm", "-rf", "build")]
    [InlineData("bash", "-c", "ls")]
    [InlineData("./ls")]
    [InlineData("env", "rm", "-rf", "/")]
    public void EverythingElse_IsDeniedByDefault(string command, params string[] args) =>
        AssertDecision(DecisionKind.Deny, Exec(command, args), Policy.DefaultDenyRule);

    [Theory]
    [InlineData("npm", "--version")]
    [InlineData("pip", "list")]
    [InlineData("pip", "show", "requests")]
    [InlineData("npm", "ls")]
    public void PackageManagersReadOnlyQuestions_AllowedWithoutAPerson(string command, params string[] args) =>
        AssertDecision(DecisionKind.Allow, Exec(command, args), "approve-package-managers");

    /// <summary>
    /// The sample policies' promise: nothing that can run code chosen by the agent (through its arguments, its
    /// environment or files in its workspace) is allowed without a person.
    /// </summary>
    [Theory]
    [InlineData("sh", "-c", "id")]
    [InlineData("bash", "script.sh")]
    [InlineData("python3", "-c", "import os")]
    [InlineData("python3", "tool.py")]
    [InlineData("node", "-e", "1")]
    [InlineData("perl", "-e", "1")]
    [InlineData("env", "sh")]
    [InlineData("xargs", "sh")]
    [InlineData("awk", "BEGIN{system(\"id\")}")]
    [InlineData("sed", "-n", "1e id", "a.txt")]
    [InlineData("find", ".", "-exec", "sh", ";")]
    [InlineData("find", ".", "-execdir", "sh", ";")]
    [InlineData("find", ".", "-ok", "sh", ";")]
    [InlineData("git", "status")]
    [InlineData("git", "diff", "--ext-diff")]
    [InlineData("git", "-c", "core.pager=sh", "log")]
    [InlineData("npm", "test")]
    [InlineData("npm", "run", "x")]
    [InlineData("make")]
    [InlineData("dotnet", "build")]
    [InlineData("pytest")]
    [InlineData("less", "a.txt")]
    [InlineData("./build.sh")]
    [InlineData("/workspace/bin/cat", "a.txt")]
    public void AnythingThatRunsTheAgentsCode_NeverAllowedWithoutAPerson(string command, params string[] args)
    {
        var decision = _engine.Decide(Exec(command, args), Context);
        Assert.True(decision.Kind != DecisionKind.Allow, $"{command} {string.Join(' ', args)} was allowed by {decision.Rule}");
    }

    [Theory]
    [InlineData("LD_PRELOAD", "/workspace/x.so")]
    [InlineData("PATH", "/workspace/bin:/usr/bin")]
    [InlineData("GIT_EXTERNAL_DIFF", "/workspace/x")]
    public void InspectionWithAVariableThatRunsCode_Denied(string name, string value)
    {
        var proposal = Proposal.Create(Coder, ProposalKind.Exec, Workspace, new ProposalArguments { Command = "cat", Program = "/usr/bin/cat", Args = ["a.txt"], Env = new Dictionary<string, string> { [name] = value } });
        AssertDecision(DecisionKind.Deny, proposal, RiskyEnvironment.Rule);
    }

    [Fact]
    public void Sudo_IsSteered()
    {
        var decision = _engine.Decide(Exec("sudo", "apt", "install", "jq"), Context);

        Assert.Equal((DecisionKind.Steer, "steer-sudo"), (decision.Kind, decision.Rule));
        Assert.Contains("without sudo", decision.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CoderRules_ApplyOnlyToTheCoder()
    {
        var tester = new Principal(AgentName.Parse("tester"), AgentRole.Worker, "s-3");

        AssertDecision(DecisionKind.Pending, Exec("dotnet", "test"), "coder-runs-tests");
        AssertDecision(DecisionKind.Pending, Exec("npm", "install"), "approve-package-managers");
        AssertDecision(DecisionKind.Deny, Proposal.Exec(tester, Workspace, "dotnet", "test"), Policy.DefaultDenyRule);
        AssertDecision(DecisionKind.Allow, Proposal.WriteFile(Coder, Workspace, "src/app.cs"), "coder-writes-workspace");
        AssertDecision(DecisionKind.Pending, Proposal.WriteFile(Coder, Workspace, "Makefile"), "coder-writes-workspace");
        AssertDecision(DecisionKind.Deny, Proposal.WriteFile(Coder, Workspace, "../../../.bashrc"), Policy.DefaultDenyRule);
    }

    [Fact]
    public void ManagerRules_ApplyOnlyToManagers()
    {
        var spawn = Proposal.Create(Manager, ProposalKind.SpawnAgent, Workspace, new ProposalArguments { Other = new Dictionary<string, string> { ["agent"] = "tester" } });

        AssertDecision(DecisionKind.Allow, Proposal.SendMessage(Manager, Workspace, "coder"), "manager-messages");
        AssertDecision(DecisionKind.Pending, spawn, "manager-spawns-with-approval");
        AssertDecision(DecisionKind.Allow, Proposal.SendMessage(Coder, Workspace, "manager"), "coder-messages");
        AssertDecision(DecisionKind.Allow, Proposal.SendMessage(Coder, Workspace, "operator"), "coder-messages");
        AssertDecision(DecisionKind.Deny, Proposal.SendMessage(Coder, Workspace, "reviewer"), Policy.DefaultDenyRule);
        AssertDecision(DecisionKind.Deny, Proposal.SendMessage(Coder, Workspace, "manager", "reviewer"), Policy.DefaultDenyRule);

        // A manager writes the drafts of agents it asks to spawn without asking; anything else with approval.
        AssertDecision(DecisionKind.Allow, Proposal.WriteFile(Manager, Workspace, "drafts/helper/AGENTS.md"), "manager-writes-drafts");
        AssertDecision(DecisionKind.Pending, Proposal.WriteFile(Manager, Workspace, "notes.md"), "manager-writes-drafts");
        AssertDecision(DecisionKind.Deny, Proposal.WriteFile(Manager, Workspace, "../escape/AGENTS.md"), Policy.DefaultDenyRule);

        // Any worker (a spawned one too) reports to the manager and the operator, and no one else.
        var spawned = new Principal(AgentName.Parse("helper"), AgentRole.Worker, "s-4");
        AssertDecision(DecisionKind.Allow, Proposal.SendMessage(spawned, Workspace, "manager"), "workers-report");
        AssertDecision(DecisionKind.Deny, Proposal.SendMessage(spawned, Workspace, "coder"), Policy.DefaultDenyRule);
    }

    private void AssertDecision(DecisionKind kind, Proposal proposal, string? rule = null)
    {
        var decision = _engine.Decide(proposal, Context);
        Assert.True(decision.Kind == kind && (rule is null || decision.Rule == rule), $"expected {kind} by {rule ?? "any rule"}, got {decision}");
    }
}
