using Apiary.IO;
using Apiary.Testing;

namespace Apiary.Tests.IO;

public sealed class PathResolverTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Resolve_DotsAndMissingParts_NormalizedLikeRealpath()
    {
        Assert.Equal("/a/c/d", PathResolver.Resolve("/a/./b/../c//d"));
        Assert.Equal("/", PathResolver.Resolve("/../.."));
    }

    [Fact]
    public void Resolve_LinkThenDotDot_FollowsTheLinkFirst()
    {
        // Like the kernel: "link/.." is the parent of the link's target, not the folder holding the link.
        _dir.CreateDirectory("real/deep");
        Directory.CreateSymbolicLink(_dir["link"], _dir["real/deep"]);
        Assert.Equal(_dir["real"], PathResolver.Resolve(_dir["link"] + "/.."));
    }

    [Fact]
    public void Resolve_LinkLoop_ThrowsInsteadOfSpinning()
    {
        File.CreateSymbolicLink(_dir["a"], _dir["b"]);
        File.CreateSymbolicLink(_dir["b"], _dir["a"]);
        Assert.Throws<IOException>(() => PathResolver.Resolve(_dir["a"]));
    }

    [Fact]
    public void Resolve_RelativeInput_Rejected() =>
        Assert.Throws<ArgumentException>(() => PathResolver.Resolve("relative/path"));

    [Theory]
    [InlineData("/etc", "/etc", true)]
    [InlineData("/etc/ssh", "/etc", true)]
    [InlineData("/etcetera", "/etc", false)]
    [InlineData("/usr", "/etc", false)]
    [InlineData("/anything", "/", true)]
    public void IsSameOrInside_ComparesWholeComponents(string path, string root, bool expected) =>
        Assert.Equal(expected, PathResolver.IsSameOrInside(path, root));
}
