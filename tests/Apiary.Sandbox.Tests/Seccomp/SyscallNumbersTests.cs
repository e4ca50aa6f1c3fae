using System.Globalization;
using System.Text.RegularExpressions;
using Apiary.Sandbox.Seccomp;

namespace Apiary.Sandbox.Tests.Seccomp;

/// <summary>The syscall tables against the kernel headers installed on this machine (linux-libc-dev), where there are any.</summary>
public sealed partial class SyscallNumbersTests
{
    [Theory]
    [InlineData("x86_64", "/usr/include/x86_64-linux-gnu/asm/unistd_64.h")]
    [InlineData("aarch64", "/usr/include/asm-generic/unistd.h")]
    public void Table_EveryNumber_MatchesTheKernelHeader(string architecture, string header)
    {
        Assert.SkipUnless(File.Exists(header), $"{header} is not installed");
        var defined = DefineLine().Matches(File.ReadAllText(header))
            .ToDictionary(m => m.Groups["name"].Value, m => int.Parse(m.Groups["number"].Value, CultureInfo.InvariantCulture));
        var compared = 0;

        foreach (var (name, x64, arm64) in SyscallNumbers.All)
        {
            var number = architecture == "x86_64" ? x64 : arm64;
            if (defined.TryGetValue(name, out var expected))
            {
                Assert.True(expected == number, $"{name} on {architecture}: table says {number}, {header} says {expected}");
                compared++;
            }
            else if (number is null)
            {
                compared++;
            }
            else
            {
                // Newer than the installed headers (fchmodat2 came in 6.6, open_tree_attr in 6.15): numbered after every call they know.
                Assert.True(number > defined.Values.Max(), $"{name} on {architecture} is missing from {header}");
            }
        }

        Assert.True(compared >= SyscallNumbers.All.Count - 2, $"only {compared} of {SyscallNumbers.All.Count} compared");
    }

    [GeneratedRegex(@"^#define __NR_(?<name>\w+)\s+(?<number>\d+)\s*$", RegexOptions.Multiline)]
    private static partial Regex DefineLine();
}
