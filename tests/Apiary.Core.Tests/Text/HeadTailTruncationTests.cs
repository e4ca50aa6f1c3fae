using Apiary.Text;
using FsCheck;
using FsCheck.Fluent;

namespace Apiary.Tests.Text;

public sealed class HeadTailTruncationTests
{
    private static Gen<string> Texts =>
        Gen.OneOf(
            ArbMap.Default.GeneratorFor<string>().Where(s => s is not null),
            Gen.Choose(0, 20_000).SelectMany(n => Gen.ArrayOf(Gen.Elements('a', 'b', ' ', '\n', 'é'), n)).Select(a => new string(a)),
            Gen.Choose(0, 5_000).SelectMany(n => Gen.ArrayOf(Gen.Elements("x", "😀", "語", "\n"), n)).Select(a => string.Concat(a)));

    private static Gen<int> Caps => Gen.Choose(HeadTailTruncation.MinimumCap, 12_000);

    [Fact]
    public void Apply_AnyTextAndCap_NeverExceedsTheCap()
    {
        Prop.ForAll(Texts.ToArbitrary(), Caps.ToArbitrary(), (text, cap) =>
            HeadTailTruncation.Apply(text, cap, "SOUL.md").Text.Length <= cap)
            .QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Apply_TextThatFits_IsUnchanged()
    {
        Prop.ForAll(Texts.ToArbitrary(), Caps.ToArbitrary(), (text, cap) =>
        {
            var result = HeadTailTruncation.Apply(text, cap, "x");
            return text.Length > cap || (result.Text == text && !result.WasTruncated);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Apply_TextOverTheCap_KeepsHeadAndTailAndMarksTheCut()
    {
        var overCap = Caps.SelectMany(cap => Gen.Choose(cap + 1, cap * 4).SelectMany(n =>
            Gen.ArrayOf(Gen.Elements("a", "b", "c", "\n", "😀"), n).Select(a => (cap, text: string.Concat(a)))));
        Prop.ForAll(overCap.ToArbitrary(), input =>
        {
            var (cap, text) = input;
            var result = HeadTailTruncation.Apply(text, cap, "USER.md");
            var marker = result.Text.IndexOf("\n\n[... truncated: ", StringComparison.Ordinal);
            var markerEnd = result.Text.IndexOf(" ...]\n\n", marker, StringComparison.Ordinal) + " ...]\n\n".Length;
            var head = result.Text[..marker];
            var tail = result.Text[markerEnd..];
            return result.WasTruncated
                && marker > 0
                && tail.Length > 0
                && text.StartsWith(head, StringComparison.Ordinal)
                && text.EndsWith(tail, StringComparison.Ordinal)
                && head.Length + tail.Length + result.OmittedChars == text.Length
                && result.Text.Contains($"{result.OmittedChars} of {text.Length} characters of USER.md", StringComparison.Ordinal);
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Apply_CutInsideSurrogatePairs_NeverSplitsOne()
    {
        var text = string.Concat(Enumerable.Repeat("😀", 1_000));
        for (var cap = HeadTailTruncation.MinimumCap; cap < HeadTailTruncation.MinimumCap + 8; cap++)
        {
            var result = HeadTailTruncation.Apply(text, cap, "x").Text;
            for (var i = 0; i < result.Length; i++)
            {
                if (char.IsHighSurrogate(result[i]))
                {
                    Assert.True(i + 1 < result.Length && char.IsLowSurrogate(result[i + 1]), $"lone high surrogate at {i} with cap {cap}");
                    i++;
                }
                else
                {
                    Assert.False(char.IsLowSurrogate(result[i]), $"lone low surrogate at {i} with cap {cap}");
                }
            }
        }
    }

    [Fact]
    public void Apply_CapBelowMinimum_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => HeadTailTruncation.Apply("text", HeadTailTruncation.MinimumCap - 1, "x"));
}
