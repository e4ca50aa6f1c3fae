using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;

namespace Apiary.Secrets;

/// <summary>
/// The bytes of one value file: a format version, a random 12-byte nonce, the 16-byte AES-GCM tag, then the
/// ciphertext. The associated data names the format and the secret, so a file moved to another name, a changed
/// byte or a file sealed with another key all fail authentication instead of decrypting to something else.
/// </summary>
internal static class SecretEnvelope
{
    public const byte Version = 1;
    public const int KeySize = 32;
    public const int NonceSize = 12;
    public const int TagSize = 16;
    public const int HeaderSize = 1 + NonceSize + TagSize;

    /// <summary>Strict both ways: text that is not valid Unicode is refused, never silently replaced.</summary>
    public static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] Seal(ReadOnlySpan<byte> key, string name, ReadOnlySpan<byte> plaintext)
    {
        var envelope = new byte[HeaderSize + plaintext.Length];
        envelope[0] = Version;
        var nonce = envelope.AsSpan(1, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, envelope.AsSpan(HeaderSize), envelope.AsSpan(1 + NonceSize, TagSize), AssociatedData(name));
        return envelope;
    }

    /// <summary>Decrypts <paramref name="envelope"/>; on failure, <paramref name="problem"/> says why, without any of the value.</summary>
    public static bool TryOpen(
        ReadOnlySpan<byte> key,
        string name,
        ReadOnlySpan<byte> envelope,
        [NotNullWhen(true)] out string? value,
        [NotNullWhen(false)] out string? problem)
    {
        value = null;
        if (envelope.Length < HeaderSize)
        {
            problem = $"it is {envelope.Length} bytes, shorter than any encrypted value";
            return false;
        }

        if (envelope[0] != Version)
        {
            problem = $"it has format version {envelope[0]}, and this Apiary reads version {Version}";
            return false;
        }

        var plaintext = new byte[envelope.Length - HeaderSize];
        try
        {
            using var aes = new AesGcm(key, TagSize);
            aes.Decrypt(envelope.Slice(1, NonceSize), envelope[HeaderSize..], envelope.Slice(1 + NonceSize, TagSize), plaintext, AssociatedData(name));
            value = Utf8.GetString(plaintext);
            problem = null;
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            problem = "it does not authenticate: the file was changed or damaged, belongs to another secret or another home, or the key was replaced";
            return false;
        }
        catch (DecoderFallbackException)
        {
            problem = "it decrypts to bytes that are not UTF-8 text";
            return false;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    private static byte[] AssociatedData(string name) => Encoding.UTF8.GetBytes($"apiary-secret-v{Version}:{name}");
}
