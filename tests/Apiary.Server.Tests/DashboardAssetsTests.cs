using System.IO.Compression;

namespace Apiary.Server.Tests;

/// <summary>
/// The dashboard's embedded assets over HTTP: anyone may fetch them (the sign-in page needs them), a hashed URL is
/// cached for good, a browser that accepts gzip gets the same bytes compressed, and each encoding revalidates with its
/// own tag.
/// </summary>
public sealed class DashboardAssetsTests() : InMemoryServerTest("apiary-dashboard-assets")
{
    [Theory]
    [InlineData("radzen/default-base.css", "text/css")]
    [InlineData("radzen/Radzen.Blazor.min.js", "text/javascript")]
    [InlineData("dashboard.css", "text/css")]
    [InlineData("blazor.web.js", "text/javascript")]
    public async Task Asset_WithGzipAccepted_IsTheSameBytesCompressed_AndRevalidatesByItsOwnTag(string name, string type)
    {
        var url = Dashboard.DashboardAssets.Url(name);
        using var plain = await Host.Http.GetAsync(url, Ct);
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        Assert.Equal(type, plain.Content.Headers.ContentType!.MediaType);
        Assert.Empty(plain.Content.Headers.ContentEncoding);
        Assert.Contains("immutable", plain.Headers.CacheControl!.ToString(), StringComparison.Ordinal);
        var bytes = await plain.Content.ReadAsByteArrayAsync(Ct);

        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        request.Headers.AcceptEncoding.ParseAdd("gzip, deflate, br");
        using var zipped = await Host.Http.SendAsync(request, Ct);
        Assert.Equal(["gzip"], zipped.Content.Headers.ContentEncoding);
        var compressed = await zipped.Content.ReadAsByteArrayAsync(Ct);
        using (var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress))
        using (var inflated = new MemoryStream())
        {
            await gzip.CopyToAsync(inflated, Ct);
            Assert.Equal(bytes, inflated.ToArray());
        }

        if (bytes.Length > 100_000)
        {
            Assert.True(compressed.Length * 3 < bytes.Length, $"{name}: {compressed.Length} bytes gzipped of {bytes.Length}");
        }

        Assert.NotEqual(plain.Headers.ETag, zipped.Headers.ETag);
        using var again = new HttpRequestMessage(HttpMethod.Get, url);
        again.Headers.AcceptEncoding.ParseAdd("gzip");
        again.Headers.IfNoneMatch.Add(zipped.Headers.ETag!);
        using var notModified = await Host.Http.SendAsync(again, Ct);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);

        // The plain representation's tag does not stand for the gzipped one.
        using var other = new HttpRequestMessage(HttpMethod.Get, url);
        other.Headers.AcceptEncoding.ParseAdd("gzip");
        other.Headers.IfNoneMatch.Add(plain.Headers.ETag!);
        using var full = await Host.Http.SendAsync(other, Ct);
        Assert.Equal(HttpStatusCode.OK, full.StatusCode);
    }

    [Theory]
    [InlineData("gzip;q=0", false)]
    [InlineData("br", false)]
    [InlineData("gzip;q=0.5, br", true)]
    [InlineData("GZIP", true)]
    public async Task Asset_IsGzippedOnlyWhenGzipIsAccepted(string acceptEncoding, bool gzipped)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Dashboard.DashboardAssets.Url("dashboard.css"));
        request.Headers.TryAddWithoutValidation("Accept-Encoding", acceptEncoding);
        using var response = await Host.Http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(gzipped ? ["gzip"] : [], response.Content.Headers.ContentEncoding);
    }
}
