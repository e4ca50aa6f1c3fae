using Apiary.Governance;
using FsCheck;
using FsCheck.Fluent;
using static Apiary.Tests.Governance.GovernanceTestData;

namespace Apiary.Tests.Governance;

public sealed class ProposalTests
{
    [Fact]
    public void Hash_SameArgumentsInAnotherDictionaryOrder_IsEqual()
    {
        var a = Proposal.Create(Coder, ProposalKind.HttpRequest, Workspace, new ProposalArguments
        {
            Other = new Dictionary<string, string> { ["url"] = "https://example.com", ["method"] = "GET", ["body"] = "" },
        });
        var b = Proposal.Create(Coder, ProposalKind.HttpRequest, Workspace, new ProposalArguments
        {
            Other = new Dictionary<string, string> { ["method"] = "GET", ["body"] = "", ["url"] = "https://example.com" },
        });

        Assert.Equal(a.Hash, b.Hash);
        Assert.NotEqual(a.Id, b.Id);
        Assert.Matches("^[0-9a-f]{64}$", a.Hash);
    }

    [Fact]
    public void Hash_AnyDictionaryOrder_IsStable()
    {
        var entries = Gen.ArrayOf(Gen.Zip(Gen.Elements("a", "b", "c", "url", "x-y", "ü"), ArbMap.Default.GeneratorFor<string>().Where(s => s is not null)))
            .Select(pairs => pairs.DistinctBy(p => p.Item1).ToArray());
        Prop.ForAll(entries.ToArbitrary(), pairs =>
        {
            var forward = new Dictionary<string, string>();
            foreach (var (k, v) in pairs)
            {
                forward[k] = v;
            }

            var backward = new Dictionary<string, string>();
            foreach (var (k, v) in pairs.Reverse())
            {
                backward[k] = v;
            }

            return Http(forward).Hash == Http(backward).Hash;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Hash_ChangingAnyArgument_ChangesIt()
    {
        var args = Gen.ArrayOf(ArbMap.Default.GeneratorFor<string>().Where(s => s is not null)).Where(a => a.Length > 0);
        Prop.ForAll(args.ToArbitrary(), Gen.Choose(0, 1000).ToArbitrary(), (values, pick) =>
        {
            var index = pick % values.Length;
            var changed = (string[])values.Clone();
            changed[index] += "x";
            var extra = values.Append("").ToArray();
            var original = Exec("tool", values).Hash;
            return original != Exec("tool", changed).Hash
                && original != Exec("tool", extra).Hash
                && original != Exec("tool2", values).Hash
                && original == Exec("tool", (string[])values.Clone()).Hash;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Hash_OtherPrincipalKindOrDictionaryValue_Differs()
    {
        var read = Read("a.txt");
        Assert.NotEqual(read.Hash, Proposal.WriteFile(Coder, Workspace, "a.txt").Hash);
        Assert.NotEqual(read.Hash, Proposal.ReadFile(Manager, Workspace, "a.txt").Hash);
        Assert.NotEqual(read.Hash, Proposal.ReadFile(Coder with { SessionId = "s-9" }, Workspace, "a.txt").Hash);
        Assert.NotEqual(
            Http(new Dictionary<string, string> { ["url"] = "a" }).Hash,
            Http(new Dictionary<string, string> { ["url"] = "b" }).Hash);

        // Arguments that join to the same text are still different arguments.
        Assert.NotEqual(Exec("echo", "a b").Hash, Exec("echo", "a", "b").Hash);
    }

    [Theory]
    [InlineData("a.txt", "/home/op/agents/coder/workspace/a.txt", "a.txt")]
    [InlineData("./src/../b.txt", "/home/op/agents/coder/workspace/b.txt", "b.txt")]
    [InlineData(".", "/home/op/agents/coder/workspace", "")]
    [InlineData("../../etc/x", "/home/op/agents/etc/x", null)]
    [InlineData("../../../../../../etc/passwd", "/etc/passwd", null)]
    [InlineData("../workspace-evil/x", "/home/op/agents/coder/workspace-evil/x", null)]
    [InlineData("/home/op/agents/coder/workspace//src/x", "/home/op/agents/coder/workspace/src/x", "src/x")]
    public void Paths_AreNormalizedAgainstTheWorkspace(string path, string full, string? inside)
    {
        var proposal = Read(path);

        Assert.Equal(full, proposal.FullPath);
        Assert.Equal(inside, proposal.WorkspacePath);
    }

    [Theory]
    [InlineData("ls", "ls")]
    [InlineData("/usr/bin/rm", "rm")]
    [InlineData("/bin/../usr/bin/rm", "rm")]
    [InlineData("./ls", "./ls")]
    [InlineData("/tmp/ls", "/tmp/ls")]
    public void ProgramName_BareOnlyForSystemFolders(string command, string program) =>
        Assert.Equal(program, Exec(command).ProgramName);

    [Fact]
    public void ArgumentLine_QuotesArgumentsWithSpacesOrQuotes() =>
        Assert.Equal("-m 'a b' '' 'it'\\''s' plain", Exec("git", "-m", "a b", "", "it's", "plain").ArgumentLine);

    [Fact]
    public void Create_MissingRequiredArgument_Throws()
    {
        Assert.Throws<ArgumentException>(() => Proposal.Create(Coder, ProposalKind.Exec, Workspace, new ProposalArguments()));
        Assert.Throws<ArgumentException>(() => Proposal.Create(Coder, ProposalKind.ReadFile, Workspace, new ProposalArguments()));
        Assert.Throws<ArgumentException>(() => Proposal.SendMessage(Coder, Workspace));
        Assert.Throws<ArgumentException>(() => Proposal.ReadFile(Coder, "relative/ws", "a"));
    }

    private static Proposal Http(Dictionary<string, string> other) =>
        Proposal.Create(Coder, ProposalKind.HttpRequest, Workspace, new ProposalArguments { Other = other });
}
