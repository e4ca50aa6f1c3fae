using Apiary.Agents;
using Apiary.Home;
using Apiary.Testing;

namespace Apiary.Tests.Home;

public sealed class ApiaryHomeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Locate_Option_WinsOverEverything()
    {
        _dir.CreateDirectory("cwd/.apiary");
        var home = ApiaryHome.Locate(_dir["opt"], _dir["env"], _dir["cwd"], _dir["user"]);
        Assert.Equal((_dir["opt"], HomeSource.Option), (home.Root, home.Source));
    }

    [Fact]
    public void Locate_Environment_WinsOverCurrentDirectory()
    {
        _dir.CreateDirectory("cwd/.apiary");
        var home = ApiaryHome.Locate(null, _dir["env"], _dir["cwd"], _dir["user"]);
        Assert.Equal((_dir["env"], HomeSource.Environment), (home.Root, home.Source));
    }

    [Fact]
    public void Locate_DotApiaryInCurrentDirectory_WhenItExists()
    {
        _dir.CreateDirectory("cwd/.apiary");
        var home = ApiaryHome.Locate(null, "", _dir["cwd"], _dir["user"]);
        Assert.Equal((_dir["cwd/.apiary"], HomeSource.CurrentDirectory), (home.Root, home.Source));
    }

    [Fact]
    public void Locate_Nothing_FallsBackToUserHome()
    {
        _dir.CreateDirectory("cwd");
        var home = ApiaryHome.Locate(null, null, _dir["cwd"], _dir["user"]);
        Assert.Equal((_dir["user/.apiary"], HomeSource.UserHome), (home.Root, home.Source));
    }

    [Fact]
    public void Locate_RelativeAndTildePaths_MadeAbsolute()
    {
        Assert.Equal(_dir["cwd/rel"], ApiaryHome.Locate("rel", null, _dir["cwd"], _dir["user"]).Root);
        Assert.Equal(_dir["user/homes/a"], ApiaryHome.Locate("~/homes/a", null, _dir["cwd"], _dir["user"]).Root);
    }

    [Fact]
    public async Task Initialize_NewHome_CreatesLayoutAndSamples()
    {
        var home = new ApiaryHome(_dir["h"], _dir["user"]);
        var files = await home.InitializeAsync(TestContext.Current.CancellationToken);

        Assert.True(home.Exists);
        Assert.True(Directory.Exists(home.TemplatesDirectory));
        Assert.True(Directory.Exists(home.PoliciesDirectory));
        Assert.True(File.Exists(home.ConfigFile));
        Assert.All(files, f => Assert.True(f.Created));
        Assert.Contains(files, f => f.Path == "agents/manager/AGENTS.md");
        Assert.Contains(files, f => f.Path == "agents/coder/AGENTS.md");
        Assert.Contains(files, f => f.Path == "templates/default.yaml");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(home.Root));
    }

    [Fact]
    public async Task Initialize_Again_KeepsEditedFiles()
    {
        var home = new ApiaryHome(_dir["h"], _dir["user"]);
        await home.InitializeAsync(TestContext.Current.CancellationToken);
        var soul = Path.Combine(home.AgentsDirectory, "coder", "SOUL.md");
        await File.WriteAllTextAsync(soul, "edited", TestContext.Current.CancellationToken);
        File.Delete(Path.Combine(home.AgentsDirectory, "manager", "TOOLS.md"));

        var files = await home.InitializeAsync(TestContext.Current.CancellationToken);

        Assert.Equal("edited", await File.ReadAllTextAsync(soul, TestContext.Current.CancellationToken));
        Assert.Equal(["agents/manager/TOOLS.md"], files.Where(f => f.Created).Select(f => f.Path));
    }

    [Fact]
    public async Task SampleHome_EveryAgentLoadsCleanAndTogetherTheyShowEveryField()
    {
        var home = new ApiaryHome(_dir["h"], _dir["user"]);
        await home.InitializeAsync(TestContext.Current.CancellationToken);
        var (config, configDiagnostics) = await HomeConfig.LoadAsync(home, TestContext.Current.CancellationToken);
        Assert.Empty(configDiagnostics);

        var listing = await new AgentCatalog(home, config!).ListAsync(TestContext.Current.CancellationToken);

        Assert.Equal(["coder", "manager"], listing.Agents.Select(a => a.Name.Value));
        Assert.All(listing.Agents, a => Assert.Empty(a.Diagnostics));
        Assert.Equal(AgentRole.Manager, listing.Agents[1].Definition!.Settings.Role.Value);
        Assert.Equal(AgentRole.Worker, listing.Agents[0].Definition!.Settings.Role.Value);

        // Every frontmatter field appears in a sample AGENTS.md, set or commented out with an explanation.
        var texts = listing.Agents.Select(a => File.ReadAllText(Path.Combine(a.Directory, "AGENTS.md"))).ToList();
        foreach (var field in AgentManifestParser.Fields.Concat(AgentManifestParser.BudgetFields))
        {
            Assert.Contains(texts, t => t.Contains(field + ":", StringComparison.Ordinal));
        }
    }
}
