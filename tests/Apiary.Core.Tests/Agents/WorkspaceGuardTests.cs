using Apiary.Agents;
using Apiary.Testing;

namespace Apiary.Tests.Agents;

public sealed class WorkspaceGuardTests : IDisposable
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private readonly TempDirectory _dir = new();
    private readonly string _userHome;
    private readonly string _apiaryHome;

    public WorkspaceGuardTests()
    {
        _userHome = _dir.CreateDirectory("home/op");
        _apiaryHome = _dir.CreateDirectory("home/op/.apiary");
    }

    public void Dispose() => _dir.Dispose();

    private WorkspaceResult Validate(string raw) => WorkspaceGuard.Validate(raw, _userHome, _apiaryHome);

    [Fact]
    public void Validate_ExistingFolder_AcceptedAsCanonicalPath()
    {
        var project = _dir.CreateDirectory("projects/app");
        var result = Validate(_dir.Path + "/projects/./other/../app/");
        Assert.True(result.IsAccepted, result.Reason);
        Assert.Equal(project, result.Path);
    }

    [Fact]
    public void Validate_Tilde_ExpandsToTheUserHome()
    {
        var project = _dir.CreateDirectory("home/op/code");
        var result = Validate("~/code");
        Assert.Equal(project, result.Path);
    }

    [Fact]
    public void Validate_RelativePath_RefusedAsNotAbsolute()
    {
        var result = Validate("projects/app");
        Assert.False(result.IsAccepted);
        Assert.Contains("not an absolute path", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_MissingFolder_RefusedAsNotExisting()
    {
        var result = Validate(_dir["nope"]);
        Assert.Contains("does not exist", result.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/")]
    [InlineData("/etc")]
    [InlineData("/usr/share")]
    [InlineData("/var/tmp")]
    [InlineData("/proc/self")]
    [InlineData("/dev")]
    [InlineData("/root")]
    [InlineData("/bin")]
    public void Validate_SystemDirectory_Refused(string path)
    {
        var result = Validate(path);
        Assert.False(result.IsAccepted);
        Assert.Contains("system directory", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SymlinkIntoEtc_RefusedAfterResolving()
    {
        // The attack: a harmless-looking folder in /tmp that is really /etc.
        var link = _dir["innocent"];
        Directory.CreateSymbolicLink(link, "/etc");
        var result = Validate(link);
        Assert.False(result.IsAccepted);
        Assert.Contains("resolves to /etc, the system directory /etc", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SymlinkedParentIntoUsr_Refused()
    {
        Directory.CreateSymbolicLink(_dir["parent"], "/usr");
        var result = Validate(_dir["parent"] + "/share");
        Assert.False(result.IsAccepted);
        Assert.Contains("/usr", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_RelativeSymlinkChain_ResolvedBeforeChecking()
    {
        // a -> b, b -> ../../../../../../../etc (relative), so a is /etc.
        _dir.CreateDirectory("x/y");
        File.CreateSymbolicLink(_dir["x/y/b"], "../../../../../../../../../../etc");
        File.CreateSymbolicLink(_dir["x/a"], "y/b");
        var result = Validate(_dir["x/a"]);
        Assert.False(result.IsAccepted);
        Assert.Contains("/etc", result.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(".ssh")]
    [InlineData(".gnupg")]
    [InlineData(".aws")]
    [InlineData(".config")]
    public void Validate_SensitiveHomeFolder_Refused(string folder)
    {
        _dir.CreateDirectory($"home/op/{folder}/inner");
        Assert.Contains($"~/{folder}", Validate($"~/{folder}").Reason, StringComparison.Ordinal);
        Assert.Contains($"~/{folder}", Validate($"~/{folder}/inner").Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_SymlinkToSshFolder_Refused()
    {
        _dir.CreateDirectory("home/op/.ssh");
        Directory.CreateSymbolicLink(_dir["keys"], _dir["home/op/.ssh"]);
        Assert.Contains("~/.ssh", Validate(_dir["keys"]).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_FolderContainingSshFolder_Refused()
    {
        _dir.CreateDirectory("home/op/.ssh");
        var result = Validate("~");
        Assert.False(result.IsAccepted);
        Assert.Contains("contains ~/.ssh", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_InsideTheApiaryHome_Refused()
    {
        var inside = _dir.CreateDirectory("home/op/.apiary/agents/coder");
        var result = Validate(inside);
        Assert.False(result.IsAccepted);
        Assert.Contains("~/.apiary", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ApiaryHomeElsewhere_InsideAndAroundRefused()
    {
        var home = _dir.CreateDirectory("srv/apiary");
        var inside = _dir.CreateDirectory("srv/apiary/agents/x");
        Assert.Contains("inside the Apiary home", WorkspaceGuard.Validate(inside, _userHome, home).Reason, StringComparison.Ordinal);
        Assert.Contains("contains the Apiary home", WorkspaceGuard.Validate(_dir["srv"], _userHome, home).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void EnsureDefault_NewAgent_CreatesOwnerOnlyFolder()
    {
        var agent = _dir.CreateDirectory("agents/coder");
        var result = WorkspaceGuard.EnsureDefault(agent);
        Assert.True(result.IsAccepted);
        Assert.Equal(Path.Combine(agent, "workspace"), result.Path);
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(result.Path!));
    }

    [Fact]
    public void EnsureDefault_ExistingWideFolder_TightenedTo0700()
    {
        var agent = _dir.CreateDirectory("agents/coder");
        var workspace = _dir.CreateDirectory("agents/coder/workspace");
        File.SetUnixFileMode(workspace, OwnerOnly | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        WorkspaceGuard.EnsureDefault(agent);
        Assert.Equal(OwnerOnly, File.GetUnixFileMode(workspace));
    }

    [Fact]
    public void EnsureDefault_PlantedSymlinkAsWorkspace_RefusedAndNothingChanged()
    {
        // The attack: someone replaces the default workspace with a link to /etc so commands would write there.
        var agent = _dir.CreateDirectory("agents/coder");
        Directory.CreateSymbolicLink(Path.Combine(agent, "workspace"), "/etc");
        var etcMode = File.GetUnixFileMode("/etc");

        var result = WorkspaceGuard.EnsureDefault(agent);

        Assert.False(result.IsAccepted);
        Assert.Contains("symbolic link", result.Reason, StringComparison.Ordinal);
        Assert.Equal(etcMode, File.GetUnixFileMode("/etc"));
    }

    [Fact]
    public void CheckDefault_FileInPlaceOfWorkspace_Refused()
    {
        var agent = _dir.CreateDirectory("agents/coder");
        _dir.Write("agents/coder/workspace", "not a folder");
        Assert.Contains("is a file", WorkspaceGuard.CheckDefault(agent).Reason, StringComparison.Ordinal);
    }
}
