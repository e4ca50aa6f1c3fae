using System.Text;
using Apiary.Protocol;
using Apiary.Testing;

namespace Apiary.Sandbox.Tests.Execution;

/// <summary>ReadFile, WriteFile and ListDir act only inside the workspace, whatever links are planted in it.</summary>
public sealed class WorkspaceFileTests(BubblewrapFixture fixture) : IClassFixture<BubblewrapFixture>, IDisposable
{
    private readonly TempDirectory _root = new("apiary-files");

    public void Dispose() => _root.Dispose();

    private string Workspace => _root.CreateDirectory("ws");

    private Task<ISandboxSession> Open() =>
        fixture.Backend.OpenSessionAsync(new SandboxSessionOptions { Workspace = Workspace }, TestContext.Current.CancellationToken);

    private static WriteFileCommand Write(string path, string text, int? mode = null) =>
        new() { RequestId = SessionExtensions.NextId(), Path = path, Content = Encoding.UTF8.GetBytes(text), Mode = mode };

    [Fact]
    public async Task WriteThenRead_RoundTripsAndCreatesFolders()
    {
        await using var session = await Open();
        var written = Assert.IsType<FileWrittenObservation>(await session.SingleAsync(Write("a/b/c.txt", "hello", mode: 0x180)));
        var read = Assert.IsType<FileContentObservation>(await session.SingleAsync(new ReadFileCommand { RequestId = "r", Path = "/workspace/a/b/c.txt" }));

        Assert.Equal(5, written.Bytes);
        Assert.Equal("hello", Encoding.UTF8.GetString(read.Content));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(Workspace, "a/b/c.txt")));
        Assert.Equal("hello", (await session.RunAsync("cat", "a/b/c.txt")).Stdout);
    }

    [Fact]
    public async Task Read_MaxBytes_TruncatesAndReportsSize()
    {
        await File.WriteAllTextAsync(Path.Combine(Workspace, "big.txt"), new string('x', 1000), TestContext.Current.CancellationToken);
        await using var session = await Open();
        var read = Assert.IsType<FileContentObservation>(await session.SingleAsync(new ReadFileCommand { RequestId = "r", Path = "big.txt", MaxBytes = 10 }));
        Assert.Equal(10, read.Content.Length);
        Assert.Equal(1000, read.Size);
        Assert.True(read.Truncated);
    }

    [Fact]
    public async Task List_SortedWithKinds()
    {
        Directory.CreateDirectory(Path.Combine(Workspace, "dir"));
        await File.WriteAllTextAsync(Path.Combine(Workspace, "file.txt"), "12345", TestContext.Current.CancellationToken);
        File.CreateSymbolicLink(Path.Combine(Workspace, "link"), "/etc/passwd");
        await using var session = await Open();
        var listing = Assert.IsType<DirListingObservation>(await session.SingleAsync(new ListDirCommand { RequestId = "l" }));
        Assert.Equal(["dir", "file.txt", "link"], listing.Entries.Select(e => e.Name));
        Assert.Equal([EntryKind.Directory, EntryKind.File, EntryKind.Symlink], listing.Entries.Select(e => e.Kind));
        Assert.Equal(5, listing.Entries[1].Size);
    }

    [Fact]
    public async Task Read_Missing_NotFound()
    {
        await using var session = await Open();
        var error = Assert.IsType<ErrorObservation>(await session.SingleAsync(new ReadFileCommand { RequestId = "r", Path = "nope.txt" }));
        Assert.Equal("not_found", error.Code);
    }

    [Theory]
    [InlineData("/etc/passwd")]
    [InlineData("/workspace2/x")]
    [InlineData("a\0b")]
    public async Task Paths_OutsideWorkspace_Refused(string path)
    {
        await using var session = await Open();
        var error = Assert.IsType<ErrorObservation>(await session.SingleAsync(new ReadFileCommand { RequestId = "r", Path = path }));
        Assert.Equal("invalid_path", error.Code);
    }

    [Fact]
    public async Task Attack_DotDotEscape_StaysInWorkspace()
    {
        await using var session = await Open();
        var read = await session.SingleAsync(new ReadFileCommand { RequestId = "r", Path = "../../../../../../etc/passwd" });
        Assert.Equal("not_found", Assert.IsType<ErrorObservation>(read).Code);

        Assert.IsType<FileWrittenObservation>(await session.SingleAsync(Write("../../../../../../tmp/apiary-escape-test", "x")));
        Assert.False(File.Exists("/tmp/apiary-escape-test"));
        Assert.True(File.Exists(Path.Combine(Workspace, "tmp/apiary-escape-test")));
    }

    [Fact]
    public async Task Attack_AbsoluteSymlinkToShadow_ReadsNothingOfTheHost()
    {
        File.CreateSymbolicLink(Path.Combine(Workspace, "shadow"), "/etc/shadow");
        File.CreateSymbolicLink(Path.Combine(Workspace, "hostname"), "/etc/hostname");
        await using var session = await Open();
        Assert.Equal("not_found", Assert.IsType<ErrorObservation>(await session.SingleAsync(new ReadFileCommand { RequestId = "r", Path = "shadow" })).Code);
        Assert.Equal("not_found", Assert.IsType<ErrorObservation>(await session.SingleAsync(new ReadFileCommand { RequestId = "r", Path = "hostname" })).Code);
    }

    [Fact]
    public async Task Attack_RelativeSymlinkOut_ReadsNothingOfTheHost()
    {
        var secret = _root.Write("outside.txt", "host secret");
        File.CreateSymbolicLink(Path.Combine(Workspace, "up"), "../outside.txt");
        await using var session = await Open();
        var result = await session.SingleAsync(new ReadFileCommand { RequestId = "r", Path = "up" });
        Assert.Equal("not_found", Assert.IsType<ErrorObservation>(result).Code);
        Assert.Equal("host secret", await File.ReadAllTextAsync(secret, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Attack_WriteThroughSymlinkedFolder_LandsInsideWorkspace()
    {
        var target = _root.CreateDirectory("outside-dir");
        Directory.CreateSymbolicLink(Path.Combine(Workspace, "out"), target);
        Directory.CreateSymbolicLink(Path.Combine(Workspace, "etc-link"), "/etc");
        await using var session = await Open();

        var viaRelative = await session.SingleAsync(Write("out/pwned.txt", "x"));
        var viaAbsolute = await session.SingleAsync(Write("etc-link/pwned.txt", "x"));

        Assert.Empty(Directory.EnumerateFileSystemEntries(target));
        Assert.False(File.Exists("/etc/pwned.txt"));

        // The absolute link resolves inside the workspace (as /workspace/etc), so the write lands there or fails.
        Assert.True(viaAbsolute is ErrorObservation || File.Exists(Path.Combine(Workspace, "etc/pwned.txt")));
        Assert.True(viaRelative is ErrorObservation || !File.Exists(Path.Combine(target, "pwned.txt")));
    }

    [Fact]
    public async Task Attack_ListSymlinkToRoot_ListsWorkspaceNotHost()
    {
        Directory.CreateSymbolicLink(Path.Combine(Workspace, "root"), "/");
        await File.WriteAllTextAsync(Path.Combine(Workspace, "mine.txt"), "m", TestContext.Current.CancellationToken);
        await using var session = await Open();
        var listing = Assert.IsType<DirListingObservation>(await session.SingleAsync(new ListDirCommand { RequestId = "l", Path = "root" }));
        Assert.Contains(listing.Entries, e => e.Name == "mine.txt");
        Assert.DoesNotContain(listing.Entries, e => e.Name == "etc" || e.Name == "proc");
    }
}
