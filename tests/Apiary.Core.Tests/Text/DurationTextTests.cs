using Apiary.Text;

namespace Apiary.Tests.Text;

public sealed class DurationTextTests
{
    [Theory]
    [InlineData("90s", 90_000)]
    [InlineData("30m", 1_800_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("2d", 172_800_000)]
    [InlineData("500ms", 500)]
    [InlineData("1m500ms", 60_500)]
    [InlineData(" 1h ", 3_600_000)]
    public void TryParse_UnitsLargestFirst_GivesMilliseconds(string text, long expected)
    {
        Assert.True(DurationText.TryParse(text, out var duration));
        Assert.Equal(expected, (long)duration.TotalMilliseconds);
    }

    [Theory]
    [InlineData("")]
    [InlineData("90")]
    [InlineData("30x")]
    [InlineData("1m1h")]
    [InlineData("-5s")]
    [InlineData("1.5h")]
    [InlineData("99999999999d")]
    [InlineData("99999999999999999999d")]
    public void TryParse_NoUnitWrongOrderOrOverflow_Fails(string text) =>
        Assert.False(DurationText.TryParse(text, out _));

    [Theory]
    [InlineData(5_400_000, "1h30m")]
    [InlineData(500, "500ms")]
    [InlineData(0, "0s")]
    public void Format_RoundTripsThroughTryParse(long ms, string expected)
    {
        var text = DurationText.Format(TimeSpan.FromMilliseconds(ms));
        Assert.Equal(expected, text);
        Assert.True(DurationText.TryParse(text, out var back));
        Assert.Equal(ms, (long)back.TotalMilliseconds);
    }
}
