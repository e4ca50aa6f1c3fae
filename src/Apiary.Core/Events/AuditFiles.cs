using System.Text;
using System.Text.Json;
using Apiary.Home;
using Apiary.IO;

namespace Apiary.Events;

/// <summary>
/// What anchors a home's event log from outside it, in the home's <c>keys/</c> folder (0700, every file 0600, each written
/// to a new file and renamed into place): the signing key <c>keys/audit-signing.key</c>, its public half
/// <c>keys/audit-signing.pub</c>, and the newest checkpoint <c>keys/audit-head.json</c>. Cutting events off the end of the
/// log also cuts the checkpoints recorded in it; the one in the file is what finds the cut.
/// </summary>
public sealed class AuditFiles
{
    /// <summary>The private key's file name in <c>keys/</c>.</summary>
    public const string SigningKeyFileName = "audit-signing.key";

    /// <summary>The public key's file name in <c>keys/</c>.</summary>
    public const string PublicKeyFileName = "audit-signing.pub";

    /// <summary>The newest checkpoint's file name in <c>keys/</c>.</summary>
    public const string HeadFileName = "audit-head.json";

    private const int MaxFileBytes = 64 * 1024;

    /// <summary>The files of the home in <paramref name="homeRoot"/>.</summary>
    /// <param name="homeRoot">The home folder.</param>
    /// <param name="publicKeyPath">Another copy of the public key to verify with (one kept apart from the home), or null.</param>
    public AuditFiles(string homeRoot, string? publicKeyPath = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(homeRoot);
        KeysDirectory = Path.Combine(Path.GetFullPath(homeRoot), ApiaryHome.KeysFolderName);
        SigningKeyPath = Path.Combine(KeysDirectory, SigningKeyFileName);
        PublicKeyPath = publicKeyPath is null ? Path.Combine(KeysDirectory, PublicKeyFileName) : Path.GetFullPath(publicKeyPath);
        HeadPath = Path.Combine(KeysDirectory, HeadFileName);
        PublicKeyName = publicKeyPath is null ? $"{ApiaryHome.KeysFolderName}/{PublicKeyFileName}" : PublicKeyPath;
    }

    /// <summary>The home's <c>keys/</c> folder.</summary>
    public string KeysDirectory { get; }

    /// <summary>The private key, which signs.</summary>
    public string SigningKeyPath { get; }

    /// <summary>The public key checkpoints are verified with.</summary>
    public string PublicKeyPath { get; }

    /// <summary>The newest checkpoint.</summary>
    public string HeadPath { get; }

    /// <summary>How messages name the public key: <c>keys/audit-signing.pub</c>, or the full path of another copy.</summary>
    public string PublicKeyName { get; }

    /// <summary>How messages name the newest checkpoint's file.</summary>
    public static string HeadName => $"{ApiaryHome.KeysFolderName}/{HeadFileName}";

    /// <summary>How messages name the private key's file.</summary>
    public static string SigningKeyName => $"{ApiaryHome.KeysFolderName}/{SigningKeyFileName}";

    /// <summary>The public key, or null when its file does not exist.</summary>
    /// <exception cref="FormatException">The file is not a P-256 public key in PEM.</exception>
    public Task<AuditKey?> ReadPublicKeyAsync(CancellationToken cancellationToken = default) => ReadKeyAsync(PublicKeyPath, cancellationToken);

    /// <summary>The private key, or null when its file does not exist.</summary>
    /// <exception cref="FormatException">The file is not a P-256 private key in PEM.</exception>
    public async Task<AuditKey?> ReadSigningKeyAsync(CancellationToken cancellationToken = default)
    {
        var key = await ReadKeyAsync(SigningKeyPath, cancellationToken).ConfigureAwait(false);
        if (key is { CanSign: false })
        {
            key.Dispose();
            throw new FormatException("it holds a public key, not the private key");
        }

        return key;
    }

    /// <summary>Writes <paramref name="key"/>'s private half, then its public half (the public one can be made again from the private one).</summary>
    public async Task WriteKeyPairAsync(AuditKey key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ApiaryHome.CreatePrivateDirectory(KeysDirectory);
        await OwnerOnly.WriteAllBytesAsync(SigningKeyPath, Encoding.ASCII.GetBytes(key.ExportPrivatePem()), cancellationToken: cancellationToken).ConfigureAwait(false);
        await WritePublicKeyAsync(key, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes <paramref name="key"/>'s public half to <see cref="PublicKeyPath"/>.</summary>
    public async Task WritePublicKeyAsync(AuditKey key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ApiaryHome.CreatePrivateDirectory(KeysDirectory);
        await OwnerOnly.WriteAllBytesAsync(PublicKeyPath, Encoding.ASCII.GetBytes(key.ExportPublicPem()), cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The newest checkpoint, or null when its file does not exist.</summary>
    /// <exception cref="FormatException">The file is not a checkpoint.</exception>
    public async Task<AuditCheckpoint?> ReadHeadAsync(CancellationToken cancellationToken = default)
    {
        var bytes = await ReadAsync(HeadPath, cancellationToken).ConfigureAwait(false);
        if (bytes is null)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize(bytes, CoreJsonContext.Default.AuditCheckpoint) is { Hash: not null, Key: not null, Signature: not null } head
                ? head
                : throw new FormatException("it is not a checkpoint: position, hash, at, key and signature are needed");
        }
        catch (JsonException ex)
        {
            throw new FormatException($"it is not a checkpoint: {ex.Message}", ex);
        }
    }

    /// <summary>Replaces the newest checkpoint with <paramref name="checkpoint"/>, atomically.</summary>
    public async Task WriteHeadAsync(AuditCheckpoint checkpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ApiaryHome.CreatePrivateDirectory(KeysDirectory);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(checkpoint, CoreJsonContext.Default.AuditCheckpoint);
        await OwnerOnly.WriteAllBytesAsync(HeadPath, (byte[])[.. bytes, (byte)'\n'], cancellationToken: cancellationToken).ConfigureAwait(false);
    }

    private static async Task<AuditKey?> ReadKeyAsync(string path, CancellationToken cancellationToken)
    {
        var bytes = await ReadAsync(path, cancellationToken).ConfigureAwait(false);
        return bytes is null ? null : AuditKey.FromPem(Encoding.ASCII.GetString(bytes));
    }

    private static async Task<byte[]?> ReadAsync(string path, CancellationToken cancellationToken)
    {
        try
        {
            return await OwnerOnly.ReadSmallAsync(path, MaxFileBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (InvalidDataException ex)
        {
            throw new FormatException(ex.Message, ex);
        }
    }
}
