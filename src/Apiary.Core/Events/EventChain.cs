using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace Apiary.Events;

/// <summary>
/// The hash chain every event store uses. An event's hash is SHA-256 over its predecessor's hash, its position, stream,
/// stream version, type, timestamp, data and the SHA-256 of its body. The body enters only through its hash, which is
/// stored, so deleting bodies keeps the chain verifiable.
/// </summary>
public static class EventChain
{
    /// <summary>The length of every hash in the chain.</summary>
    public const int HashLength = SHA256.HashSizeInBytes;

    /// <summary>The previous hash of the first event, and the body hash of an event without a body: 32 zero bytes.</summary>
    public static ReadOnlyMemory<byte> ZeroHash { get; } = new byte[HashLength];

    /// <summary>SHA-256 of <paramref name="body"/>, or <see cref="ZeroHash"/> when there is no body.</summary>
    public static byte[] HashBody(ReadOnlyMemory<byte>? body) =>
        body is { } b ? SHA256.HashData(b.Span) : ZeroHash.ToArray();

    /// <summary>
    /// The hash of one event. Every variable-length field is prefixed with its length, and numbers are big-endian, so
    /// no two different events encode to the same bytes.
    /// </summary>
    public static byte[] ComputeHash(
        ReadOnlySpan<byte> previousHash,
        long position,
        string stream,
        long streamVersion,
        string type,
        DateTimeOffset timestamp,
        ReadOnlySpan<byte> data,
        ReadOnlySpan<byte> bodyHash)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(type);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> number = stackalloc byte[8];
        hash.AppendData(previousHash);
        AppendInt64(hash, number, position);
        AppendText(hash, number, stream);
        AppendInt64(hash, number, streamVersion);
        AppendText(hash, number, type);
        AppendInt64(hash, number, timestamp.UtcTicks);
        AppendInt64(hash, number, data.Length);
        hash.AppendData(data);
        hash.AppendData(bodyHash);
        return hash.GetHashAndReset();
    }

    /// <summary>The hash <paramref name="e"/> should have, recomputed from its fields.</summary>
    public static byte[] ComputeHash(RecordedEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return ComputeHash(e.PreviousHash.Span, e.Position, e.Stream, e.StreamVersion, e.Type, e.Timestamp, e.Data.Span, e.BodyHash.Span);
    }

    /// <summary>
    /// Checks <paramref name="events"/>, which must be the whole log in position order: positions run from 1 without
    /// gaps, each previous hash is its predecessor's hash, each hash matches its event, and each body still present
    /// matches its body hash. Stops at the first broken link.
    /// </summary>
    public static async Task<ChainVerification> VerifyAsync(IAsyncEnumerable<RecordedEvent> events, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        var previousHash = ZeroHash;
        long count = 0;
        await foreach (var e in events.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            count++;
            var broken = Check(e, count, previousHash.Span);
            if (broken is not null)
            {
                return ChainVerification.Broken(count, e.Position, broken);
            }

            previousHash = e.Hash;
        }

        return ChainVerification.Intact(count);
    }

    /// <summary>Why <paramref name="e"/> breaks the chain where it stands, or null when it holds there.</summary>
    internal static string? Check(RecordedEvent e, long expectedPosition, ReadOnlySpan<byte> previousHash)
    {
        if (e.Position != expectedPosition)
        {
            return $"expected position {expectedPosition} but found {e.Position}: events are missing";
        }

        if (!e.PreviousHash.Span.SequenceEqual(previousHash))
        {
            return expectedPosition == 1
                ? "the first event's previous hash is not 32 zero bytes"
                : $"its previous hash does not match the hash of position {expectedPosition - 1}";
        }

        if (e.Body is { } body && !SHA256.HashData(body.Span).AsSpan().SequenceEqual(e.BodyHash.Span))
        {
            return "its body does not match its body hash: the body was changed";
        }

        if (!ComputeHash(e).AsSpan().SequenceEqual(e.Hash.Span))
        {
            return "its hash does not match its content: the stream, version, type, timestamp, data or body hash was changed";
        }

        return null;
    }

    private static void AppendInt64(IncrementalHash hash, Span<byte> buffer, long value)
    {
        BinaryPrimitives.WriteInt64BigEndian(buffer, value);
        hash.AppendData(buffer);
    }

    private static void AppendText(IncrementalHash hash, Span<byte> buffer, string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        AppendInt64(hash, buffer, bytes.Length);
        hash.AppendData(bytes);
    }
}
