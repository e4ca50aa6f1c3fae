using System.Collections.Frozen;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.StaticFiles;

namespace Apiary.Server.Dashboard;

/// <summary>
/// The dashboard's browser assets, embedded in this assembly and served under <c>/dashboard/…</c> (Blazor's script also
/// under <c>/_framework/blazor.web.js</c>, where Blazor looks for it): with an ETag, and cached for good when the URL
/// carries the content's hash (<see cref="Url"/>).
/// </summary>
internal static class DashboardAssets
{
    private const string Prefix = "dashboard/";

    private static readonly FrozenDictionary<string, Asset> Assets = Load();

    /// <summary>The URL of asset <paramref name="name"/> with its content hash, such as <c>/dashboard/dashboard.css?v=1a2b…</c>.</summary>
    public static string Url(string name) =>
        Assets.TryGetValue("/" + Prefix + name, out var asset) ? $"/{Prefix}{name}?v={asset.Hash}" : throw new ArgumentException($"there is no dashboard asset '{name}'", nameof(name));

    public static void Map(IEndpointRouteBuilder app)
    {
        foreach (var (path, asset) in Assets)
        {
            app.MapGet(path, (HttpContext context) => Serve(context, asset)).AllowAnonymous().ExcludeFromDescription();
        }

        var blazor = Assets["/" + Prefix + "blazor.web.js"];
        app.MapGet("/_framework/blazor.web.js", (HttpContext context) => Serve(context, blazor)).AllowAnonymous().ExcludeFromDescription();
    }

    private static IResult Serve(HttpContext context, Asset asset)
    {
        var headers = context.Response.Headers;
        headers.ETag = asset.ETag;
        headers.CacheControl = context.Request.Query.ContainsKey("v") ? "public, max-age=31536000, immutable" : "no-cache";
        return context.Request.Headers.IfNoneMatch == asset.ETag
            ? Results.StatusCode(StatusCodes.Status304NotModified)
            : Results.Bytes(asset.Content, asset.ContentType);
    }

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(DashboardAssets).Assembly;
        var types = new FileExtensionContentTypeProvider();
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var content = buffer.ToArray();
            var hash = Convert.ToHexStringLower(SHA256.HashData(content))[..12];
            assets["/" + name] = new Asset(content, types.TryGetContentType(name, out var type) ? type : "application/octet-stream", $"\"{hash}\"", hash);
        }

        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private sealed record Asset(byte[] Content, string ContentType, string ETag, string Hash);
}
