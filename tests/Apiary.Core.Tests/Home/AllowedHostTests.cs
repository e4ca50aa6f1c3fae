using Apiary.Home;

namespace Apiary.Tests.Home;

public sealed class AllowedHostTests
{
    [Theory]
    [InlineData("apiary.example.org", "apiary.example.org", null)]
    [InlineData("  Apiary.Example.ORG:8443 ", "apiary.example.org", 8443)]
    [InlineData("localhost", "localhost", null)]
    [InlineData("192.168.1.20", "192.168.1.20", null)]
    [InlineData("192.168.1.20:7171", "192.168.1.20", 7171)]
    [InlineData("[fd00::1]", "[fd00::1]", null)]
    [InlineData("[FD00:0:0::1]:7171", "[fd00::1]", 7171)]
    [InlineData("my-host", "my-host", null)]
    public void TryParse_AHostWithOrWithoutAPort_IsCanonical(string text, string name, int? port)
    {
        Assert.True(AllowedHost.TryParse(text, out var host, out var error), error);
        Assert.Equal((name, port), (host.Name, host.Port));
    }

    [Theory]
    [InlineData("")]
    [InlineData("*")]
    [InlineData("*.example.org")]
    [InlineData("http://apiary.example.org")]
    [InlineData("apiary.example.org/x")]
    [InlineData("user@apiary.example.org")]
    [InlineData("apiary.example.org.")]
    [InlineData("-apiary.example.org")]
    [InlineData("apiary..example.org")]
    [InlineData("apiary.example.org:0")]
    [InlineData("apiary.example.org:65536")]
    [InlineData("apiary.example.org:")]
    [InlineData("apiary.example.org:+80")]
    [InlineData("fd00::1")]
    [InlineData("[fd00::1")]
    [InlineData("[fd00::1]x")]
    [InlineData("[127.0.0.1]")]
    [InlineData("1.2.3")]
    [InlineData("0x7f.1")]
    [InlineData("999.1.1.1")]
    [InlineData("a\u00e9.example")]
    public void TryParse_AnythingButAPlainHost_IsRefusedSayingWhy(string text)
    {
        Assert.False(AllowedHost.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrWhiteSpace(error));
    }
}
