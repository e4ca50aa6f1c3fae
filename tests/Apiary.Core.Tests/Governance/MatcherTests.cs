using Apiary.Governance;
using static Apiary.Tests.Governance.GovernanceTestData;

namespace Apiary.Tests.Governance;

/// <summary>Each match field, alone, against proposals that must and must not match.</summary>
public sealed class MatcherTests
{
    [Theory]
    [InlineData("ls", "ls", true)]
    [InlineData("ls", "lsblk", false)]
    [InlineData("mkfs*", "mkfs.ext4", true)]
    [InlineData("*sh", "bash", true)]
    [InlineData("*grep*", "zgrepx", true)]
    [InlineData("py?hon", "python", true)]
    [InlineData("py?hon", "pyhon", false)]
    [InlineData("mk*.ext?", "mkfs.ext4", true)]
    [InlineData("re:^pip[0-9]*$", "pip3", true)]
    [InlineData("re:^pip[0-9]*$", "pipx", false)]
    [InlineData("re:cat", "concatenate", true)]
    [InlineData("ls", "/usr/bin/ls", true)]
    [InlineData("rm", "/bin/../usr/bin/rm", true)]
    [InlineData("ls", "./ls", false)]
    [InlineData("ls", "/tmp/x/ls", false)]
    [InlineData("/tmp/x/ls", "/tmp/x/ls", true)]
    [InlineData("/usr/bin/rm", "/usr/bin/rm", true)]
    public void Command_MatchesTheProgramName(string pattern, string command, bool matches) =>
        AssertMatches(matches, $"{{ kind: exec, command: '{pattern}' }}", Exec(command));

    [Theory]
    [InlineData("status*", new[] { "status", "--short" }, true)]
    [InlineData("status*", new[] { "push", "status" }, false)]
    [InlineData("*of=/dev/*", new[] { "if=x", "of=/dev/sda" }, true)]
    [InlineData("re:(^| )push( |$)", new[] { "-C", "x", "push" }, true)]
    [InlineData("re:(^| )push( |$)", new[] { "pushd" }, false)]
    [InlineData("-m 'a b'", new[] { "-m", "a b" }, true)]
    [InlineData("-m a b", new[] { "-m", "a b" }, false)]
    public void Args_MatchTheWholeArgumentLine(string pattern, string[] args, bool matches) =>
        AssertMatches(matches, $"{{ kind: exec, args: \"{pattern}\" }}", Exec("git", args));

    [Fact]
    public void Args_OnAProposalWithoutArguments_DoNotMatch() =>
        AssertMatches(false, "{ args: '*' }", Read("a"));

    [Theory]
    [InlineData("**", "a/b/c.txt", true)]
    [InlineData("**", ".", true)]
    [InlineData("**", "../../etc/x", false)]
    [InlineData("**", "/etc/passwd", false)]
    [InlineData("*.md", "README.md", true)]
    [InlineData("*.md", "docs/README.md", false)]
    [InlineData("**/*.md", "docs/README.md", true)]
    [InlineData("**/*.md", "README.md", true)]
    [InlineData("**/*.md", ".md", true)]
    [InlineData("a/**/b", "a/b", true)]
    [InlineData("a/**/b", "a/x/y/b", true)]
    [InlineData("src/**", "src", true)]
    [InlineData("src/**", "src/a/b.cs", true)]
    [InlineData("src/**", "srcx/a", false)]
    [InlineData("src/**", "src/../../x/src/a", false)]
    [InlineData("src/**", "tests/../src/a", true)]
    [InlineData("src/*.cs", "src/a/b.cs", false)]
    [InlineData("src/?.cs", "src/a.cs", true)]
    [InlineData("/etc/**", "/etc/passwd", true)]
    [InlineData("/etc/**", "../../../../../../etc/passwd", true)]
    [InlineData("/etc/*", "/etc/ssh/key", false)]
    [InlineData("re:\\.env$", "config/.env", true)]
    public void Path_ResolvesAgainstTheWorkspace(string pattern, string path, bool matches) =>
        AssertMatches(matches, $"{{ path: '{pattern}' }}", Read(path));

    [Fact]
    public void Path_OnAnExec_DoesNotMatch() =>
        AssertMatches(false, "{ path: '**' }", Exec("cat", "a.txt"));

    [Theory]
    [InlineData("coder", true)]
    [InlineData("cod*", true)]
    [InlineData("manager", false)]
    public void Agent_MatchesTheAgentName(string pattern, bool matches) =>
        AssertMatches(matches, $"{{ agent: '{pattern}' }}", Read("a"));

    [Fact]
    public void Role_MatchesThePrincipalsRole()
    {
        AssertMatches(true, "{ role: worker }", Read("a"));
        AssertMatches(false, "{ role: manager }", Read("a"));
        AssertMatches(true, "{ role: [worker, manager] }", Proposal.ReadFile(Manager, Workspace, "a"));
    }

    [Fact]
    public void Kind_OneOrAList()
    {
        AssertMatches(true, "{ kind: read_file }", Read("a"));
        AssertMatches(true, "{ kind: [exec, read_file] }", Read("a"));
        AssertMatches(false, "{ kind: [exec, list_dir] }", Read("a"));
        AssertMatches(true, "{}", Read("a"));
    }

    [Fact]
    public void Recipients_AllowNeedsEveryRecipient_OtherTiersAny()
    {
        var mixed = Proposal.SendMessage(Manager, Workspace, "coder", "operator");
        var allow = Engine(Rules(Rule("talk", 1, "{ recipients: ['cod*', tester] }")));
        var deny = Engine(Rules(Rule("no-operator", 1, "{ recipients: operator }", "deny")));

        Assert.Equal(DecisionKind.Allow, allow.Decide(Proposal.SendMessage(Manager, Workspace, "coder", "tester"), Context).Kind);
        Assert.Equal(Policy.DefaultDenyRule, allow.Decide(mixed, Context).Rule);
        Assert.Equal("no-operator", deny.Decide(mixed, Context).Rule);
        Assert.Equal(Policy.DefaultDenyRule, deny.Decide(Proposal.SendMessage(Manager, Workspace, "coder"), Context).Rule);
    }

    [Fact]
    public void Fields_AreAndedTogether()
    {
        const string Match = "{ kind: exec, agent: coder, command: git, args: 'status*' }";
        AssertMatches(true, Match, Exec("git", "status"));
        AssertMatches(false, Match, Exec("git", "push"));
        AssertMatches(false, Match, Exec("hg", "status"));
        AssertMatches(false, Match, Proposal.Exec(Manager, Workspace, "git", "status"));
    }

    private static void AssertMatches(bool expected, string match, Proposal proposal)
    {
        var decision = Engine(Rules(Rule("r", 1, match))).Decide(proposal, Context);
        Assert.Equal(expected ? "r" : Policy.DefaultDenyRule, decision.Rule);
    }
}
