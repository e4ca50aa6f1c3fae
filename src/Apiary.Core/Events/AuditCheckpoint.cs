using System.Buffers.Binary;
using System.Text;

namespace Apiary.Events;

/// <summary>
/// A signed statement that the event log had <paramref name="Hash"/> as the chain hash of <paramref name="Position"/> at
/// <paramref name="At"/>. The chain makes every earlier event depend on that hash, so a checkpoint holds only while no event
/// up to its position was changed, removed or cut off; without the signing key, which is kept outside the log, nobody can
/// make a new one for a rewritten log. See <see cref="AuditKey"/> for the signature and <see cref="AuditFiles"/> for where
/// the newest one is kept.
/// </summary>
/// <param name="Position">The position it covers: every event up to and including it.</param>
/// <param name="Hash">The chain hash of the event at <paramref name="Position"/>, lowercase hexadecimal.</param>
/// <param name="At">When it was signed.</param>
/// <param name="Key">The id of the key that signed it (<see cref="AuditKey.Id"/>).</param>
/// <param name="Signature">ECDSA P-256 with SHA-256 over <see cref="SignedBytes"/>, base64 (r and s, 32 bytes each).</param>
public sealed record AuditCheckpoint(long Position, string Hash, DateTimeOffset At, string Key, string Signature)
{
    /// <summary>The domain label of a checkpoint's signature.</summary>
    public const string CheckpointLabel = "apiary/audit/checkpoint/v1";

    /// <summary>
    /// The domain label of the signature on an operator's acceptance of a damaged log (<c>audit.damage-accepted</c>), so that
    /// an ordinary checkpoint can never be passed off as an acceptance.
    /// </summary>
    public const string AcceptanceLabel = "apiary/audit/acceptance/v1";

    /// <summary>
    /// The bytes a signature covers: the domain <paramref name="label"/>, the position, the 32-byte hash and the time in UTC
    /// ticks. The label is prefixed with its length and numbers are 64-bit big-endian, so no two statements encode alike.
    /// </summary>
    public static byte[] SignedBytes(string label, long position, ReadOnlySpan<byte> hash, DateTimeOffset at)
    {
        ArgumentException.ThrowIfNullOrEmpty(label);
        if (hash.Length != EventChain.HashLength)
        {
            throw new ArgumentException($"a chain hash is {EventChain.HashLength} bytes, not {hash.Length}", nameof(hash));
        }

        var labelBytes = Encoding.UTF8.GetBytes(label);
        var bytes = new byte[8 + labelBytes.Length + 8 + EventChain.HashLength + 8];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteInt64BigEndian(span, labelBytes.Length);
        labelBytes.CopyTo(span[8..]);
        span = span[(8 + labelBytes.Length)..];
        BinaryPrimitives.WriteInt64BigEndian(span, position);
        hash.CopyTo(span[8..]);
        BinaryPrimitives.WriteInt64BigEndian(span[(8 + EventChain.HashLength)..], at.UtcTicks);
        return bytes;
    }

    /// <summary>True when this checkpoint's hash is <paramref name="hash"/>.</summary>
    public bool HasHash(ReadOnlySpan<byte> hash) =>
        string.Equals(Hash, Convert.ToHexStringLower(hash), StringComparison.Ordinal);
}
