using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Apiary.Home;
using Apiary.IO;

namespace Apiary.Runtime;

/// <summary>What a bearer token may do.</summary>
internal enum TokenKind
{
    /// <summary>Everything.</summary>
    Operator,

    /// <summary>Only read (GET).</summary>
    ReadOnly,

    /// <summary>Read, and act as one session of one agent.</summary>
    Session,
}

/// <summary>What a token grants.</summary>
internal sealed record TokenGrant(TokenKind Kind, string? Agent = null, string? Session = null)
{
    /// <summary>How the grant is named in records (<c>by</c>).</summary>
    public string Who => Kind switch
    {
        TokenKind.Operator => "operator",
        TokenKind.ReadOnly => "read-only",
        _ => $"session {Session} ({Agent})",
    };
}

/// <summary>One token as <c>keys/tokens.json</c> keeps it: its SHA-256, never the token.</summary>
internal sealed record StoredToken(string Hash, string Kind, string? Agent, string? Session, DateTimeOffset CreatedAt);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, WriteIndented = true)]
[JsonSerializable(typeof(List<StoredToken>))]
internal sealed partial class TokenJsonContext : JsonSerializerContext;

/// <summary>
/// The bearer tokens of a server. Tokens are kept only as SHA-256 hashes: the operator's and the read-only one in
/// memory and in <c>keys/tokens.json</c> (mode 0600), session tokens in memory alone. The operator and read-only tokens themselves are written once to <c>keys/operator.token</c> and
/// <c>keys/readonly.token</c> (mode 0600) for the local user, and reused on later starts; session tokens are shown once,
/// in the answer that opens the session, and die with the server (sessions do not outlive it).
/// </summary>
internal sealed class TokenStore : IDisposable
{
    public const string ReadOnlyTokenPath = "keys/readonly.token";
    public const string TokensPath = "keys/tokens.json";

    private readonly Lock _gate = new();
    private readonly SemaphoreSlim _saving = new(1, 1);
    private readonly Dictionary<string, (TokenGrant Grant, DateTimeOffset CreatedAt)> _byHash = new(StringComparer.Ordinal);
    private readonly string _file;
    private readonly TimeProvider _time;

    private TokenStore(string file, TimeProvider time)
    {
        _file = file;
        _time = time;
    }

    public string OperatorToken { get; private set; } = "";

    public string ReadOnlyToken { get; private set; } = "";

    /// <summary>Opens the tokens of <paramref name="home"/>: reuses the operator and read-only tokens, forgets old session tokens.</summary>
    public static async Task<TokenStore> OpenAsync(ApiaryHome home, TimeProvider time, CancellationToken cancellationToken)
    {
        var keys = Path.Combine(home.Root, "keys");
        OwnerOnly.CreateDirectory(keys);
        var store = new TokenStore(Path.Combine(home.Root, TokensPath), time);
        store.OperatorToken = await ReadOrCreateAsync(Path.Combine(home.Root, Contracts.ServerInfo.OperatorTokenPath), cancellationToken).ConfigureAwait(false);
        store.ReadOnlyToken = await ReadOrCreateAsync(Path.Combine(home.Root, ReadOnlyTokenPath), cancellationToken).ConfigureAwait(false);
        store._byHash[Hash(store.OperatorToken)] = (new TokenGrant(TokenKind.Operator), time.GetUtcNow());
        store._byHash[Hash(store.ReadOnlyToken)] = (new TokenGrant(TokenKind.ReadOnly), time.GetUtcNow());
        await store.SaveAsync(cancellationToken).ConfigureAwait(false);
        return store;
    }

    public void Dispose() => _saving.Dispose();

    /// <summary>What <paramref name="token"/> grants, or null when it is no token of this server.</summary>
    public TokenGrant? Find(string token)
    {
        var hash = Hash(token);
        lock (_gate)
        {
            return _byHash.TryGetValue(hash, out var entry) ? entry.Grant : null;
        }
    }

    /// <summary>
    /// Issues a token that acts only as <paramref name="session"/> of <paramref name="agent"/>. Its hash is kept in
    /// memory alone: sessions die with the server, and so do their tokens (writing the file for each of a thousand
    /// sessions made opening one slower the more were open).
    /// </summary>
    public Task<string> IssueSessionAsync(string agent, string session, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var token = NewToken();
        lock (_gate)
        {
            _byHash[Hash(token)] = (new TokenGrant(TokenKind.Session, agent, session), _time.GetUtcNow());
        }

        return Task.FromResult(token);
    }

    /// <summary>Revokes the tokens of a closed session.</summary>
    public Task RevokeSessionAsync(string session, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            foreach (var hash in _byHash.Where(p => p.Value.Grant.Session == session).Select(p => p.Key).ToList())
            {
                _byHash.Remove(hash);
            }
        }

        return Task.CompletedTask;
    }

    internal static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static string NewToken() => Base64Url(RandomNumberGenerator.GetBytes(32));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static async Task<string> ReadOrCreateAsync(string path, CancellationToken cancellationToken)
    {
        if (File.Exists(path))
        {
            var existing = (await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)).Trim();
            if (existing.Length >= 32)
            {
                // Whoever loosened the mode, the token file stays private.
                File.SetUnixFileMode(path, OwnerOnly.FilePermissions);
                return existing;
            }
        }

        var token = NewToken();
        await WritePrivateAsync(path, token + "\n", cancellationToken).ConfigureAwait(false);
        return token;
    }

    private static Task WritePrivateAsync(string path, string text, CancellationToken cancellationToken) =>
        OwnerOnly.WriteAllBytesAsync(path, Encoding.UTF8.GetBytes(text), cancellationToken: cancellationToken);

    private async Task SaveAsync(CancellationToken cancellationToken)
    {
        // One save at a time, each taking the state when it starts: the last one to finish writes the newest state.
        await _saving.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            List<StoredToken> tokens;
            lock (_gate)
            {
                tokens = _byHash.Select(p => new StoredToken(p.Key, p.Value.Grant.Kind.ToString().ToLowerInvariant(), p.Value.Grant.Agent, p.Value.Grant.Session, p.Value.CreatedAt))
                    .OrderBy(t => t.CreatedAt).ToList();
            }

            await WritePrivateAsync(_file, JsonSerializer.Serialize(tokens, TokenJsonContext.Default.ListStoredToken), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _saving.Release();
        }
    }
}
