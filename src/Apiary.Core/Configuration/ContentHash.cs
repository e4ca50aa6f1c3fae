using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Apiary.Configuration;

/// <summary>
/// The version of a set of configuration files: the lowercase hex SHA-256 over the files sorted by name (ordinal), each
/// written as its name and its UTF-8 content, both prefixed with their length (64-bit big-endian), so no two different
/// sets encode alike. The same files give the same version whatever order they were listed in or when they were read.
/// </summary>
public static class ContentHash
{
    /// <summary>The version of <paramref name="files"/> (name and text of each).</summary>
    public static string Of(IEnumerable<(string Name, string Text)> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[8];
        foreach (var (name, text) in files.OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            foreach (var part in (ReadOnlySpan<string>)[name, text])
            {
                var bytes = Encoding.UTF8.GetBytes(part);
                BinaryPrimitives.WriteInt64BigEndian(length, bytes.Length);
                hash.AppendData(length);
                hash.AppendData(bytes);
            }
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>The version of one file <paramref name="name"/> whose text is <paramref name="text"/>; a missing file (null) is the empty set.</summary>
    public static string Of(string name, string? text) => Of(text is null ? [] : [(name, text)]);
}
