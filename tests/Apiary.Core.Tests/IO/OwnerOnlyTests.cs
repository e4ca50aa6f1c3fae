using Apiary.IO;
using Apiary.Testing;

namespace Apiary.Tests.IO;

public sealed class OwnerOnlyTests : IDisposable
{
    private readonly TempDirectory _root = new("apiary-owner-only");

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _root.Dispose();

    [Fact]
    public async Task WriteAllBytesAsync_ANewOrAnOldFile_Is0600WithTheNewContentAndNoTemporaryLeft()
    {
        var folder = OwnerOnly.CreateDirectory(_root["a/b"]).FullName;
        var old = _root.Write("a/b/old.json", "old");
        File.SetUnixFileMode(old, (UnixFileMode)0b_110_100_100);

        await OwnerOnly.WriteAllBytesAsync(Path.Combine(folder, "new.json"), "new"u8.ToArray(), cancellationToken: Ct);
        await OwnerOnly.WriteAllBytesAsync(old, "replaced"u8.ToArray(), cancellationToken: Ct);

        Assert.Equal("replaced", await File.ReadAllTextAsync(old, Ct));
        Assert.Equal(["new.json", "old.json"], Directory.GetFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        OwnerOnlyTree.AssertOwnerOnly(_root["a"]);
    }

    [Fact]
    public void Tighten_KeepsTheOwnersBitsAndSpecialOnes_TakesTheRest()
    {
        var file = _root.Write("script.sh", "#!/bin/sh\n");
        File.SetUnixFileMode(file, (UnixFileMode)0b_111_101_101 | UnixFileMode.SetUser);

        Assert.True(OwnerOnly.Tighten(file));

        Assert.Equal((UnixFileMode)0b_111_000_000 | UnixFileMode.SetUser, File.GetUnixFileMode(file));
        Assert.False(OwnerOnly.Tighten(file));
    }
}
