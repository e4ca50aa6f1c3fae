using Apiary.Agents;
using FsCheck;
using FsCheck.Fluent;

namespace Apiary.Tests.Agents;

public sealed class AgentNameTests
{
    private const string Allowed = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

    [Theory]
    [InlineData("coder")]
    [InlineData("a")]
    [InlineData("Manager_2")]
    [InlineData("-dash-first")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123")]
    public void TryCreate_ValidName_Succeeds(string raw)
    {
        Assert.True(AgentName.TryCreate(raw, out var name, out var error));
        Assert.Null(error);
        Assert.Equal(raw, name.Value);
        Assert.Equal(raw, name.ToString());
    }

    [Theory]
    [InlineData("", AgentNameRule.NotEmpty, "empty")]
    [InlineData(null, AgentNameRule.NotEmpty, "empty")]
    [InlineData("01234567890123456789012345678901234567890123456789012345678901234", AgentNameRule.MaxLength, "at most 64")]
    [InlineData(".hidden", AgentNameRule.NoLeadingDot, "dot")]
    [InlineData("..", AgentNameRule.NoLeadingDot, "dot")]
    [InlineData("a.b", AgentNameRule.AllowedCharacters, "'.'")]
    [InlineData("a/b", AgentNameRule.AllowedCharacters, "'/'")]
    [InlineData("../etc", AgentNameRule.NoLeadingDot, "dot")]
    [InlineData("a b", AgentNameRule.AllowedCharacters, "U+0020")]
    [InlineData("a\0b", AgentNameRule.AllowedCharacters, "U+0000")]
    [InlineData("café", AgentNameRule.AllowedCharacters, "'é'")]
    public void TryCreate_BrokenRule_NamesTheRule(string? raw, AgentNameRule rule, string messagePart)
    {
        Assert.False(AgentName.TryCreate(raw, out var name, out var error));
        Assert.Null(name);
        Assert.Equal(rule, error.Rule);
        Assert.Contains(messagePart, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_InvalidName_ThrowsWithTheRule()
    {
        var ex = Assert.Throws<InvalidAgentNameException>(() => AgentName.Parse("has space"));
        Assert.Equal(AgentNameRule.AllowedCharacters, ex.Error.Rule);
        Assert.IsAssignableFrom<ApiaryException>(ex);
    }

    [Fact]
    public void Equality_SameText_EqualAndOrderedOrdinally()
    {
        var a = AgentName.Parse("alpha");
        Assert.Equal(a, AgentName.Parse("alpha"));
        Assert.True(a == AgentName.Parse("alpha"));
        Assert.NotEqual(a, AgentName.Parse("Alpha"));
        Assert.True(AgentName.Parse("Alpha") < a);
        Assert.Equal(a.GetHashCode(), AgentName.Parse("alpha").GetHashCode());
    }

    [Fact]
    public void TryCreate_AnyString_AcceptsExactlyTheRuleSet()
    {
        // Arbitrary strings, biased towards the characters near the rules' edges.
        var chars = Gen.OneOf(
            Gen.Elements(Allowed.ToCharArray()),
            Gen.Elements('.', '/', ' ', '\0', 'é', '\n', '\\', ':', '\uD83D'),
            ArbMap.Default.GeneratorFor<char>());
        var strings = Gen.OneOf(
            Gen.Choose(0, 70).SelectMany(n => Gen.ArrayOf(chars, n)),
            Gen.ArrayOf(chars)).Select(a => new string(a));
        Prop.ForAll(strings.ToArbitrary(), raw =>
        {
            var expected = raw.Length is >= 1 and <= 64 && raw.All(c => Allowed.Contains(c, StringComparison.Ordinal));
            var ok = AgentName.TryCreate(raw, out var name, out var error);
            return ok == expected
                && (ok ? name!.Value == raw : error!.Rule == ExpectedRule(raw));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void TryCreate_NamesFromTheAllowedAlphabet_AlwaysSucceed()
    {
        var names = Gen.Choose(1, 64).SelectMany(n => Gen.ArrayOf(Gen.Elements(Allowed.ToCharArray()), n)).Select(a => new string(a));
        Prop.ForAll(names.ToArbitrary(), raw => AgentName.TryCreate(raw, out var name, out _) && name.Value == raw)
            .QuickCheckThrowOnFailure();
    }

    private static AgentNameRule ExpectedRule(string raw) =>
        raw.Length == 0 ? AgentNameRule.NotEmpty
        : raw.Length > 64 ? AgentNameRule.MaxLength
        : raw[0] == '.' ? AgentNameRule.NoLeadingDot
        : AgentNameRule.AllowedCharacters;
}
