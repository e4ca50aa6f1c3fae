namespace Apiary.Protocol;

/// <summary>
/// Writes frames (<see cref="FrameCodec"/>) to a stream. Safe to use from many tasks at once: each frame is written
/// whole, in one write followed by a flush, while holding a lock, so frames of concurrent writers never interleave.
/// </summary>
/// <remarks>
/// A write that fails or is cancelled after it started may have sent part of a frame; the writer then refuses every
/// later write with an <see cref="ApiaryException"/>, since the peer can no longer find frame boundaries. The writer
/// does not own the stream.
/// </remarks>
public sealed class FrameWriter : IDisposable
{
    private readonly Stream _stream;
    private readonly FrameCodecOptions _options;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private long _sequence;
    private Exception? _broken;

    /// <summary>Creates a writer to <paramref name="stream"/>, which it does not own.</summary>
    /// <param name="stream">A writable stream.</param>
    /// <param name="options">The limits; <see cref="FrameCodecOptions.Default"/> when null.</param>
    /// <exception cref="ArgumentException">The stream cannot be written.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A limit in <paramref name="options"/> is out of range.</exception>
    public FrameWriter(Stream stream, FrameCodecOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanWrite)
        {
            throw new ArgumentException("The stream cannot be written.", nameof(stream));
        }

        _options = options ?? FrameCodecOptions.Default;
        _options.Validate();
        _stream = stream;
    }

    /// <summary>The sequence number of the last observation written by <see cref="WriteSequencedAsync"/>; 0 before the first.</summary>
    public long LastSequence => Interlocked.Read(ref _sequence);

    /// <summary>Writes a command as one frame and flushes.</summary>
    /// <exception cref="FrameTooLargeException">The command serializes to more than the frame limit; nothing was written.</exception>
    /// <exception cref="ApiaryException">The command cannot be serialized, or an earlier write broke the stream.</exception>
    public async ValueTask WriteAsync(Command command, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        var frame = Frame(FrameCodec.SerializeToUtf8Bytes(command), command.GetType().Name);
        await WriteFrameAsync(frame, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Writes an observation as one frame, with the sequence number it has, and flushes.</summary>
    /// <exception cref="FrameTooLargeException">The observation serializes to more than the frame limit; nothing was written.</exception>
    /// <exception cref="ApiaryException">The observation cannot be serialized, or an earlier write broke the stream.</exception>
    public async ValueTask WriteAsync(Observation observation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(observation);
        var frame = Frame(FrameCodec.SerializeToUtf8Bytes(observation), observation.GetType().Name);
        await WriteFrameAsync(frame, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes an observation with the next sequence number of this writer (1 for the first, then one more each time)
    /// and flushes. The number is given under the writer's lock, so numbers on the wire increase by exactly one even
    /// when many tasks write at once; a backend sends all of its observations through this method.
    /// </summary>
    /// <returns>The sequence number the observation was sent with.</returns>
    /// <exception cref="FrameTooLargeException">The observation serializes to more than the frame limit; nothing was written and no number used.</exception>
    /// <exception cref="ApiaryException">The observation cannot be serialized, or an earlier write broke the stream.</exception>
    public async ValueTask<long> WriteSequencedAsync(Observation observation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(observation);
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfBroken();
            var sequence = _sequence + 1;
            var frame = Frame(FrameCodec.SerializeToUtf8Bytes(observation with { Sequence = sequence }), observation.GetType().Name);
            await WriteLockedAsync(frame, cancellationToken).ConfigureAwait(false);
            Interlocked.Exchange(ref _sequence, sequence);
            return sequence;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Releases the lock, once no write is pending; the stream is left open.</summary>
    public void Dispose() => _lock.Dispose();

    private async ValueTask WriteFrameAsync(byte[] frame, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            ThrowIfBroken();
            await WriteLockedAsync(frame, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async ValueTask WriteLockedAsync(byte[] frame, CancellationToken cancellationToken)
    {
        // Cancelled before the first byte: the stream is intact, so the writer stays usable.
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            await _stream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
            await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _broken = ex;
            throw;
        }
    }

    private byte[] Frame(byte[] body, string typeName)
    {
        if (body.Length > _options.MaxFrameBytes)
        {
            throw new FrameTooLargeException(typeName, body.Length, _options.MaxFrameBytes);
        }

        return FrameCodec.WithLengthPrefix(body);
    }

    private void ThrowIfBroken()
    {
        if (_broken is { } broken)
        {
            throw new ApiaryException(
                "An earlier write on this stream failed or was cancelled part-way through a frame, so the peer can no longer find frame boundaries; open a new connection.",
                broken);
        }
    }
}

/// <summary>
/// A message was too large for one frame. Sending it is a bug of the sender (a backend must cap file contents and output
/// chunks well below the limit); nothing was written and the stream is still usable.
/// </summary>
public sealed class FrameTooLargeException : ApiaryException
{
    /// <summary>Creates the exception for a message of <paramref name="frameBytes"/> bytes over <paramref name="maxFrameBytes"/>.</summary>
    public FrameTooLargeException(string typeName, long frameBytes, int maxFrameBytes)
        : base($"The {typeName} serializes to {frameBytes} bytes, over the {maxFrameBytes}-byte frame limit; send less per message (smaller reads, output chunks).")
    {
        FrameBytes = frameBytes;
        MaxFrameBytes = maxFrameBytes;
    }

    /// <summary>The size of the message's JSON, in bytes.</summary>
    public long FrameBytes { get; }

    /// <summary>The frame limit it broke.</summary>
    public int MaxFrameBytes { get; }
}
