using System.Buffers;
using System.Buffers.Binary;

namespace Apiary.Protocol;

/// <summary>
/// Reads frames (<see cref="FrameCodec"/>) from a stream, one at a time. Bad input is never thrown: each read gives a
/// message, a <see cref="FrameFailure"/> to answer with an <see cref="ErrorObservation"/>, or the end of the stream.
/// </summary>
/// <remarks>
/// <para>
/// Memory is bounded by <see cref="FrameCodecOptions.MaxFrameBytes"/>, and only what has arrived is held: a frame's
/// buffer grows as its bytes come. An oversized frame is skipped a bounded chunk at a time, never held; one announced
/// as longer than <see cref="FrameCodecOptions.MaxDiscardBytes"/> ends the reading.
/// </para>
/// <para>
/// One read at a time: reads must not overlap. A read that is cancelled leaves the reader where it was, and the next
/// read carries on with the same frame. The reader does not own the stream; failures of the stream itself
/// (<see cref="IOException"/>, <see cref="ObjectDisposedException"/>) are thrown as they are.
/// </para>
/// </remarks>
public sealed class FrameReader
{
    private const int DiscardChunkBytes = 64 * 1024;
    private const int InitialBodyBytes = 64 * 1024;

    private readonly Stream _stream;
    private readonly FrameCodecOptions _options;
    private readonly byte[] _prefix = new byte[FrameCodec.LengthPrefixBytes];

    // Where the current frame stands, kept across reads so that a cancelled read loses nothing.
    private int _prefixFilled;
    private byte[]? _body;
    private int _bodyFilled;
    private long _discarded;
    private bool _ended;
    private int _reading;

    /// <summary>Creates a reader of <paramref name="stream"/>, which it does not own.</summary>
    /// <param name="stream">A readable stream of frames.</param>
    /// <param name="options">The limits; <see cref="FrameCodecOptions.Default"/> when null.</param>
    /// <exception cref="ArgumentException">The stream cannot be read.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A limit in <paramref name="options"/> is out of range.</exception>
    public FrameReader(Stream stream, FrameCodecOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead)
        {
            throw new ArgumentException("The stream cannot be read.", nameof(stream));
        }

        _options = options ?? FrameCodecOptions.Default;
        _options.Validate();
        _stream = stream;
    }

    /// <summary>Reads the next frame as a <see cref="Command"/> (the backend's side of a connection).</summary>
    /// <exception cref="InvalidOperationException">Another read on this reader has not finished.</exception>
    public ValueTask<FrameResult<Command>> ReadCommandAsync(CancellationToken cancellationToken = default) =>
        ReadAsync(FrameCodec.Commands, cancellationToken);

    /// <summary>Reads the next frame as an <see cref="Observation"/> (the host's side of a connection).</summary>
    /// <exception cref="InvalidOperationException">Another read on this reader has not finished.</exception>
    public ValueTask<FrameResult<Observation>> ReadObservationAsync(CancellationToken cancellationToken = default) =>
        ReadAsync(FrameCodec.Observations, cancellationToken);

    private async ValueTask<FrameResult<TMessage>> ReadAsync<TMessage>(MessageKind<TMessage> kind, CancellationToken cancellationToken)
        where TMessage : class
    {
        if (Interlocked.Exchange(ref _reading, 1) == 1)
        {
            throw new InvalidOperationException("A frame is already being read; reads on one FrameReader must not overlap.");
        }

        try
        {
            return await ReadFrameAsync(kind, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _reading, 0);
        }
    }

    private async ValueTask<FrameResult<TMessage>> ReadFrameAsync<TMessage>(MessageKind<TMessage> kind, CancellationToken cancellationToken)
        where TMessage : class
    {
        if (_ended)
        {
            return FrameResult<TMessage>.EndOfStream;
        }

        while (_prefixFilled < _prefix.Length)
        {
            var read = await _stream.ReadAsync(_prefix.AsMemory(_prefixFilled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                if (_prefixFilled == 0)
                {
                    End();
                    return FrameResult<TMessage>.EndOfStream;
                }

                return Fatal<TMessage>(
                    FrameFailureKind.Truncated, $"The stream ended inside a frame's length prefix ({_prefixFilled} of {_prefix.Length} bytes).", null);
            }

            _prefixFilled += read;
        }

        long length = BinaryPrimitives.ReadUInt32BigEndian(_prefix);
        if (length > _options.MaxFrameBytes)
        {
            return await DiscardAsync<TMessage>(length, cancellationToken).ConfigureAwait(false);
        }

        var size = (int)length;
        _body ??= ArrayPool<byte>.Shared.Rent(Math.Min(size, InitialBodyBytes));
        while (_bodyFilled < size)
        {
            if (_bodyFilled == _body.Length)
            {
                Grow(size);
            }

            var read = await _stream.ReadAsync(_body.AsMemory(_bodyFilled, Math.Min(_body.Length, size) - _bodyFilled), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return Fatal<TMessage>(FrameFailureKind.Truncated, $"The stream ended inside a frame: {_bodyFilled} of {size} bytes arrived.", length);
            }

            _bodyFilled += read;
        }

        var result = kind.Decode(_body.AsSpan(0, size));
        NextFrame();
        return result.Failure is { } failure ? FrameResult<TMessage>.Of(failure with { FrameLength = length }) : result;
    }

    private async ValueTask<FrameResult<TMessage>> DiscardAsync<TMessage>(long length, CancellationToken cancellationToken)
        where TMessage : class
    {
        var limit = $"over the {_options.MaxFrameBytes}-byte limit";
        if (length > _options.MaxDiscardBytes)
        {
            return Fatal<TMessage>(
                FrameFailureKind.TooLarge,
                $"A frame claims {length} bytes, {limit} and too long to skip (at most {_options.MaxDiscardBytes}); the stream cannot be resynchronized.{TextHint()}",
                length);
        }

        var chunk = ArrayPool<byte>.Shared.Rent(DiscardChunkBytes);
        try
        {
            while (_discarded < length)
            {
                var want = (int)Math.Min(chunk.Length, length - _discarded);
                var read = await _stream.ReadAsync(chunk.AsMemory(0, want), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return Fatal<TMessage>(
                        FrameFailureKind.TooLarge, $"A frame of {length} bytes, {limit}, was being skipped when the stream ended after {_discarded} of them.", length);
                }

                _discarded += read;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        NextFrame();
        return FrameResult<TMessage>.Of(new FrameFailure
        {
            Kind = FrameFailureKind.TooLarge,
            Message = $"A frame of {length} bytes is {limit}; it was skipped.",
            FrameLength = length,
            CanContinue = true,
        });
    }

    /// <summary>A length prefix that reads as text means the peer is not sending frames at all; say so.</summary>
    private string TextHint()
    {
        foreach (var b in _prefix)
        {
            if (b is < 0x20 or > 0x7E)
            {
                return "";
            }
        }

        var text = System.Text.Encoding.ASCII.GetString(_prefix);
        return $" Its length prefix reads as the text '{text}': the peer is probably sending {(text.StartsWith('{') ? "JSON" : "text")} without length prefixes.";
    }

    private void Grow(int size)
    {
        var old = _body!;
        var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Min(size, old.Length * 2L));
        old.AsSpan(0, _bodyFilled).CopyTo(bigger);
        old.AsSpan(0, _bodyFilled).Clear();
        _body = bigger;
        ArrayPool<byte>.Shared.Return(old);
    }

    private void NextFrame()
    {
        if (_body is { } body)
        {
            // Frames carry file contents and command output: leave none of it in the shared pool.
            body.AsSpan(0, _bodyFilled).Clear();
            _body = null;
            ArrayPool<byte>.Shared.Return(body);
        }

        _prefixFilled = 0;
        _bodyFilled = 0;
        _discarded = 0;
    }

    private void End()
    {
        NextFrame();
        _ended = true;
    }

    private FrameResult<TMessage> Fatal<TMessage>(FrameFailureKind kind, string message, long? length)
        where TMessage : class
    {
        End();
        return FrameResult<TMessage>.Of(new FrameFailure { Kind = kind, Message = message, FrameLength = length, CanContinue = false });
    }
}
