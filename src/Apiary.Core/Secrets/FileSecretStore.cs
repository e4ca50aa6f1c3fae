using System.Security.Cryptography;
using System.Text;
using Apiary.Home;
using Apiary.IO;

namespace Apiary.Secrets;

/// <summary>
/// Secrets kept in files of an Apiary home, encrypted at rest with AES-256-GCM. The values are in
/// <c>secrets/NAME.secret</c>; the key, 32 random bytes made on the first <see cref="SetAsync"/>, is in
/// <c>keys/secrets.key</c>, apart from them, so a copy of the secrets folder alone reveals nothing. Folders are
/// 0700 and files 0600; every write goes to a new owner-only file that is renamed into place. A value that fails
/// to decrypt is an <see cref="ApiaryException"/>, never a wrong value, and no value is ever logged or put in a
/// message.
/// </summary>
public sealed class FileSecretStore : ISecretStore
{
    /// <summary>The largest value, in bytes of UTF-8.</summary>
    public const int MaxValueBytes = 64 * 1024;

    /// <summary>The folder of value files, in the home.</summary>
    public const string SecretsFolderName = "secrets";

    /// <summary>The folder of keys, in the home.</summary>
    public const string KeysFolderName = ApiaryHome.KeysFolderName;

    /// <summary>The key file, in <see cref="KeysFolderName"/>.</summary>
    public const string KeyFileName = "secrets.key";

    /// <summary>How each value file's name ends.</summary>
    public const string FileExtension = ".secret";

    /// <summary>Creates the store of <paramref name="home"/>; nothing is read or created until it is used.</summary>
    public FileSecretStore(ApiaryHome home)
    {
        ArgumentNullException.ThrowIfNull(home);
        Home = home;
    }

    /// <summary>The home the secrets belong to.</summary>
    public ApiaryHome Home { get; }

    /// <summary>The folder of value files.</summary>
    public string SecretsDirectory => Path.Combine(Home.Root, SecretsFolderName);

    /// <summary>The folder of the key.</summary>
    public string KeysDirectory => Path.Combine(Home.Root, KeysFolderName);

    /// <summary>The key file.</summary>
    public string KeyFile => Path.Combine(KeysDirectory, KeyFileName);

    /// <summary>The file that holds (or would hold) the value of <paramref name="name"/>.</summary>
    /// <exception cref="InvalidSecretNameException">The name breaks the rule in <see cref="SecretName"/>.</exception>
    public string FileOf(string name)
    {
        SecretName.Validate(name);
        return Path.Combine(SecretsDirectory, name + FileExtension);
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidSecretNameException">The name breaks the rule in <see cref="SecretName"/>.</exception>
    /// <exception cref="ApiaryException">The value exists but cannot be decrypted, or its key is missing or damaged.</exception>
    public async Task<string?> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        var path = FileOf(name);
        byte[] envelope;
        try
        {
            envelope = await OwnerOnly.ReadSmallAsync(path, SecretEnvelope.HeaderSize + MaxValueBytes, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (InvalidDataException)
        {
            throw new ApiaryException(
                $"{path} is larger than any encrypted value can be, so it is not one; remove it, or restore it from a backup, and set the secret again");
        }

        if (!File.Exists(KeyFile))
        {
            throw MissingKey(path);
        }

        var key = await ReadKeyAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return SecretEnvelope.TryOpen(key, name, envelope, out var value, out var problem)
                ? value
                : throw new ApiaryException(
                    $"{path} cannot be decrypted with the key in {KeyFile}: {problem}. The value is unusable; set the secret again " +
                    $"('apiary secrets set {name}'), or restore this file and the key together from the same backup");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidSecretNameException">The name breaks the rule in <see cref="SecretName"/>.</exception>
    /// <exception cref="ArgumentException">The value is not valid Unicode text, or is larger than <see cref="MaxValueBytes"/>.</exception>
    /// <exception cref="ApiaryException">Values exist but their key is missing or damaged, so a new key would orphan them.</exception>
    public async Task SetAsync(string name, string value, CancellationToken cancellationToken = default)
    {
        var path = FileOf(name);
        ArgumentNullException.ThrowIfNull(value);
        var plaintext = Encode(value);
        try
        {
            var key = await GetOrCreateKeyAsync(cancellationToken).ConfigureAwait(false);
            byte[] envelope;
            try
            {
                envelope = SecretEnvelope.Seal(key, name, plaintext);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(key);
            }

            ApiaryHome.CreatePrivateDirectory(SecretsDirectory);
            await OwnerOnly.WriteAllBytesAsync(path, envelope, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult<IReadOnlyList<string>>(Names().Order(StringComparer.Ordinal).ToList());
    }

    /// <inheritdoc/>
    /// <exception cref="InvalidSecretNameException">The name breaks the rule in <see cref="SecretName"/>.</exception>
    public Task<bool> RemoveAsync(string name, CancellationToken cancellationToken = default)
    {
        var path = FileOf(name);
        cancellationToken.ThrowIfCancellationRequested();
        if (!File.Exists(path))
        {
            return Task.FromResult(false);
        }

        File.Delete(path);
        return Task.FromResult(true);
    }

    private IEnumerable<string> Names()
    {
        if (!Directory.Exists(SecretsDirectory))
        {
            return [];
        }

        // Temporary files start with a dot and other stray files have no valid name, so neither is listed.
        return Directory.EnumerateFiles(SecretsDirectory, "*" + FileExtension)
            .Select(f => Path.GetFileName(f)[..^FileExtension.Length])
            .Where(SecretName.IsValid);
    }

    private static byte[] Encode(string value)
    {
        byte[] plaintext;
        try
        {
            plaintext = SecretEnvelope.Utf8.GetBytes(value);
        }
        catch (EncoderFallbackException)
        {
            throw new ArgumentException("a secret value must be valid Unicode text; this one has an unpaired surrogate", nameof(value));
        }

        if (plaintext.Length > MaxValueBytes)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            throw new ArgumentException($"a secret value must be at most {MaxValueBytes} bytes of UTF-8; this one has {plaintext.Length}", nameof(value));
        }

        return plaintext;
    }

    private async Task<byte[]> GetOrCreateKeyAsync(CancellationToken cancellationToken)
    {
        if (File.Exists(KeyFile))
        {
            ApiaryHome.CreatePrivateDirectory(KeysDirectory);
            return await ReadKeyAsync(cancellationToken).ConfigureAwait(false);
        }

        // A new key would make every existing value unreadable for good; the operator has to decide.
        if (Names().FirstOrDefault() is { } orphan)
        {
            // Every value is sealed after its key is published, so a value found now whose key is there now is another
            // first writer's, which published its key between the look above and this one.
            if (File.Exists(KeyFile))
            {
                return await ReadKeyAsync(cancellationToken).ConfigureAwait(false);
            }

            throw MissingKey(Path.Combine(SecretsDirectory, orphan + FileExtension));
        }

        return await CreateKeyAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Makes the key, or returns the one another writer made first. Two first writers (two <c>apiary secrets set</c>
    /// at once, or the CLI and a server) must end up with one key, or the loser's values are sealed with a key that
    /// is gone. <see cref="File.Move(string, string, bool)"/> without overwrite checks and then renames, so both can
    /// pass the check; instead the key is published in a whole folder, because rename(2) never replaces a folder that
    /// has files in it: exactly one writer's folder becomes <c>keys/</c>, and the others read its key.
    /// </summary>
    private async Task<byte[]> CreateKeyAsync(CancellationToken cancellationToken)
    {
        var key = RandomNumberGenerator.GetBytes(SecretEnvelope.KeySize);
        var staging = Path.Combine(Home.Root, $".{KeysFolderName}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.tmp");
        try
        {
            ApiaryHome.CreatePrivateDirectory(staging);
            var stagedKey = Path.Combine(staging, KeyFileName);
            await OwnerOnly.WriteAllBytesAsync(stagedKey, key, cancellationToken: cancellationToken).ConfigureAwait(false);
            for (var attempt = 0; attempt < 3; attempt++)
            {
                try
                {
                    Directory.Move(staging, KeysDirectory);
                    return key;
                }
                catch (IOException) when (Directory.Exists(KeysDirectory))
                {
                    // Someone else's keys folder is there: theirs, if it has the key, wins.
                }

                if (File.Exists(KeyFile))
                {
                    CryptographicOperations.ZeroMemory(key);
                    return await ReadKeyAsync(cancellationToken).ConfigureAwait(false);
                }

                if (Directory.EnumerateFileSystemEntries(KeysDirectory).Any())
                {
                    break;
                }

                try
                {
                    // An empty keys folder (the key was deleted by hand before any value was set) is replaced. Removing
                    // a folder fails when it is not empty, so a key published meanwhile is never removed.
                    Directory.Delete(KeysDirectory);
                }
                catch (IOException)
                {
                    // Published or removed by another writer meanwhile; the next attempt sees which.
                }
            }

            // The keys folder holds other files but not this key: the key is moved in on its own. Only writers that
            // race here, in a home whose keys folder was changed by hand, could still make two keys.
            try
            {
                File.Move(stagedKey, KeyFile, overwrite: false);
            }
            catch (IOException) when (File.Exists(KeyFile))
            {
                CryptographicOperations.ZeroMemory(key);
                return await ReadKeyAsync(cancellationToken).ConfigureAwait(false);
            }

            ApiaryHome.CreatePrivateDirectory(KeysDirectory);
            return key;
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    private async Task<byte[]> ReadKeyAsync(CancellationToken cancellationToken)
    {
        byte[] key;
        try
        {
            key = await OwnerOnly.ReadSmallAsync(KeyFile, SecretEnvelope.KeySize, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException)
        {
            throw BadKey("it is larger");
        }

        if (key.Length != SecretEnvelope.KeySize)
        {
            var length = key.Length;
            CryptographicOperations.ZeroMemory(key);
            throw BadKey($"it has {length}");
        }

        return key;
    }

    private ApiaryException BadKey(string found) => new(
        $"{KeyFile} is not a secrets key: a key is exactly {SecretEnvelope.KeySize} bytes and {found}. Restore it from the backup " +
        $"it was made with; if it is lost, the values in {SecretsDirectory} cannot be recovered: remove them and set the secrets again");

    private ApiaryException MissingKey(string valueFile) => new(
        $"{valueFile} holds an encrypted secret, but its key {KeyFile} is missing. Restore the key from the backup it was made " +
        $"with; if it is lost, the values cannot be recovered: remove the files in {SecretsDirectory} and set the secrets again");
}
