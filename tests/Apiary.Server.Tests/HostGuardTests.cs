using Apiary.Home;
using Microsoft.AspNetCore.Http;

namespace Apiary.Server.Tests;

/// <summary>Which <c>Host</c> headers the server answers to, for the addresses it listens on and the hosts a home allows.</summary>
public sealed class HostGuardTests
{
    [Theory]
    [InlineData("http://127.0.0.1:7171", "", "127.0.0.1:7171", true)]
    [InlineData("http://127.0.0.1:7171", "", "localhost:7171", true)]
    [InlineData("http://127.0.0.1:7171", "", "LOCALHOST:7171", true)]
    [InlineData("http://127.0.0.1:7171", "", "[::1]:7171", true)]
    [InlineData("http://127.0.0.1:7171", "", "[0:0:0:0:0:0:0:1]:7171", true)]
    [InlineData("http://127.0.0.1:7171", "", "localhost", false)]
    [InlineData("http://127.0.0.1:7171", "", "localhost:7172", false)]
    [InlineData("http://127.0.0.1:7171", "", "localhost:80", false)]
    [InlineData("http://127.0.0.1:7171", "", "evil.example:7171", false)]
    [InlineData("http://127.0.0.1:7171", "", "localhost.evil.example:7171", false)]
    [InlineData("http://127.0.0.1:7171", "", "127.0.0.2:7171", false)]
    [InlineData("http://127.0.0.1:7171", "", "localhost:7171:7171", false)]
    [InlineData("http://127.0.0.1:7171", "", "localhost:abc", false)]
    [InlineData("http://127.0.0.1:7171", "", "", false)]
    [InlineData("http://127.0.0.1:80", "", "localhost", true)]
    [InlineData("http://127.0.0.1:80", "", "127.0.0.1", true)]
    [InlineData("http://192.168.1.20:7171", "", "192.168.1.20:7171", true)]
    [InlineData("http://192.168.1.20:7171", "", "localhost:7171", true)]
    [InlineData("http://192.168.1.20:7171", "", "192.168.1.21:7171", false)]
    [InlineData("http://0.0.0.0:7171", "", "0.0.0.0:7171", true)]
    [InlineData("http://0.0.0.0:7171", "", "192.168.1.20:7171", false)]
    [InlineData("http://0.0.0.0:7171", "apiary.lan", "apiary.lan:7171", true)]
    [InlineData("http://0.0.0.0:7171", "apiary.lan", "Apiary.Lan", true)]
    [InlineData("http://0.0.0.0:7171", "apiary.lan", "apiary.lan:7172", false)]
    [InlineData("http://0.0.0.0:7171", "apiary.lan", "evil.apiary.lan:7171", false)]
    [InlineData("http://127.0.0.1:7171", "apiary.example.org:443", "apiary.example.org:443", true)]
    [InlineData("http://127.0.0.1:7171", "apiary.example.org:443", "apiary.example.org", false)]
    [InlineData("http://127.0.0.1:7171", "apiary.example.org:443", "apiary.example.org:7171", false)]
    [InlineData("http://127.0.0.1:7171;http://[::1]:7272", "[fd00::1]", "[fd00::1]:7272", true)]
    [InlineData("http://127.0.0.1:7171;http://[::1]:7272", "", "localhost:7272", true)]
    public void Allows_AHostHeader_OnlyWhenServed(string addresses, string allowed, string host, bool served)
    {
        var guard = new HostGuard(allowed.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(Parse).ToList());
        guard.Serve(addresses.Split(';'));

        Assert.Equal(served, guard.Allows(new HostString(host)));
    }

    [Fact]
    public void Allows_BeforeTheServerListens_Nothing()
    {
        var guard = new HostGuard([]);

        Assert.False(guard.Allows(new HostString("localhost:7171")));
    }

    private static AllowedHost Parse(string text) =>
        AllowedHost.TryParse(text, out var host, out var error) ? host : throw new ArgumentException(error);
}
