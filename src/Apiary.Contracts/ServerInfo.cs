using System.Text.Json;
using Apiary.Home;

namespace Apiary.Contracts;

/// <summary>
/// What a running server writes to <c>run/server.json</c> in its home, so that the CLI finds it: its URL and process.
/// The operator token is in <c>keys/operator.token</c> (mode 0600), apart from this file.
/// </summary>
/// <param name="Url">The base URL the server listens on, such as <c>http://127.0.0.1:7171</c>.</param>
/// <param name="Pid">The server's process id.</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="Home">The home it serves.</param>
public sealed record ServerInfo(string Url, int Pid, DateTimeOffset StartedAt, string Home)
{
    /// <summary>The file, relative to the home.</summary>
    public const string RelativePath = "run/server.json";

    /// <summary>The operator token's file, relative to the home.</summary>
    public const string OperatorTokenPath = "keys/operator.token";

    /// <summary>Where <paramref name="home"/>'s server writes its info.</summary>
    public static string PathIn(ApiaryHome home)
    {
        ArgumentNullException.ThrowIfNull(home);
        return System.IO.Path.Combine(home.Root, RelativePath);
    }

    /// <summary>Reads the info of the server of <paramref name="home"/>, or null when none has written it.</summary>
    public static async Task<ServerInfo?> ReadAsync(ApiaryHome home, CancellationToken cancellationToken = default)
    {
        var path = PathIn(home);
        if (!File.Exists(path))
        {
            return null;
        }

        try
        {
            await using var stream = File.OpenRead(path);
            return await JsonSerializer.DeserializeAsync(stream, ApiJsonContext.Default.ServerInfo, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is JsonException or IOException)
        {
            return null;
        }
    }
}
