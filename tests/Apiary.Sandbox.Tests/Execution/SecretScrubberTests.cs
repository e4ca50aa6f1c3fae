using System.Text;
using Apiary.Sandbox.Execution;

namespace Apiary.Sandbox.Tests.Execution;

public sealed class SecretScrubberTests
{
    private static readonly KeyValuePair<string, string>[] Secrets = [new("TOKEN", "s3cr3t"), new("LONGER", "s3cr3t-and-more")];

    [Fact]
    public void Push_ValueSplitAtEveryPoint_AlwaysReplaced()
    {
        var text = "before s3cr3t middle s3cr3t-and-more after s3cr";
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var first = 0; first <= bytes.Length; first++)
        {
            for (var second = first; second <= bytes.Length; second++)
            {
                var scrubber = new SecretScrubber(Secrets);
                var output = new MemoryStream();
                output.Write(scrubber.Push(bytes.AsSpan(0, first)));
                output.Write(scrubber.Push(bytes.AsSpan(first, second - first)));
                output.Write(scrubber.Push(bytes.AsSpan(second)));
                output.Write(scrubber.Flush());
                Assert.Equal("before [secret:TOKEN] middle [secret:LONGER] after s3cr", Encoding.UTF8.GetString(output.ToArray()));
            }
        }
    }

    [Fact]
    public void Push_OneByteAtATime_Replaced()
    {
        var scrubber = new SecretScrubber(Secrets);
        var output = new MemoryStream();
        foreach (var b in Encoding.UTF8.GetBytes("xs3cr3ty"))
        {
            output.Write(scrubber.Push([b]));
        }

        output.Write(scrubber.Flush());
        Assert.Equal("x[secret:TOKEN]y", Encoding.UTF8.GetString(output.ToArray()));
    }

    [Fact]
    public void Push_NoSecrets_PassesThroughUnheld()
    {
        var scrubber = new SecretScrubber([]);
        Assert.True(scrubber.IsEmpty);
        Assert.Equal("abc"u8.ToArray(), scrubber.Push("abc"u8));
        Assert.Empty(scrubber.Flush());
    }
}
