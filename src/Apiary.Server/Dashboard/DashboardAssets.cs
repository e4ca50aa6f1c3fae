using System.Collections.Frozen;
using System.IO.Compression;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.StaticFiles;

namespace Apiary.Server.Dashboard;

/// <summary>
/// The dashboard's browser assets, embedded in this assembly and served under <c>/dashboard/…</c> (Blazor's script also
/// under <c>/_framework/blazor.web.js</c>, where Blazor looks for it): with an ETag, and cached for good when the URL
/// carries the content's hash (<see cref="Url"/>), gzipped for a browser that accepts it.
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
        var gzip = AcceptsGzip(context.Request);

        // Each encoding is its own representation, with its own tag.
        var etag = gzip ? $"\"{asset.Hash}-gzip\"" : asset.ETag;
        headers.ETag = etag;
        headers.CacheControl = context.Request.Query.ContainsKey("v") ? "public, max-age=31536000, immutable" : "no-cache";
        headers.Vary = "Accept-Encoding";
        if (context.Request.Headers.IfNoneMatch == etag)
        {
            return Results.StatusCode(StatusCodes.Status304NotModified);
        }

        if (gzip)
        {
            headers.ContentEncoding = "gzip";
            return Results.Bytes(asset.Gzipped.Value, asset.ContentType);
        }

        return Results.Bytes(asset.Content, asset.ContentType);
    }

    private static bool AcceptsGzip(HttpRequest request) =>
        request.GetTypedHeaders().AcceptEncoding.Any(e => e.Value.Equals("gzip", StringComparison.OrdinalIgnoreCase) && (e.Quality ?? 1) > 0);

    // Compressed once, when first asked for: the chart library's stylesheet shrinks from 755 KB to about a tenth.
    private static byte[] Gzip(byte[] content)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
        {
            gzip.Write(content);
        }

        return output.ToArray();
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

    private sealed record Asset(byte[] Content, string ContentType, string ETag, string Hash)
    {
        public Lazy<byte[]> Gzipped { get; } = new(() => Gzip(Content));
    }
}
