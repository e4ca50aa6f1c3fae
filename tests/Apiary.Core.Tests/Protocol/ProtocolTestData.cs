using System.Buffers.Binary;
using System.Text;
using System.Threading.Channels;
using Apiary.Protocol;

namespace Apiary.Tests.Protocol;

/// <summary>Messages of every type, with every field set and with only the required ones, and frame-building helpers.</summary>
internal static class ProtocolTestData
{
    public static IReadOnlyList<Command> Commands { get; } =
    [
        new ExecCommand
        {
            RequestId = "exec-full",
            Command = "python3",
            Args = ["-c", "print(input())", "héllo 😀"],
            Env = new Dictionary<string, string> { ["A"] = "1", ["B"] = "two words" },
            Workdir = "src",
            Stdin = [0, 1, 2, 0xFE, 0xFF],
            TimeoutMs = 30_000,
            OutputLimitBytes = 1 << 20,
            Secrets = ["GITHUB_TOKEN"],
        },
        new ExecCommand { RequestId = "exec-min", Command = "ls" },
        new CancelCommand { RequestId = "cancel", TargetRequestId = "exec-full" },
        new WriteFileCommand { RequestId = "write-full", Path = "a/b.txt", Content = Encoding.UTF8.GetBytes("hi\n"), Mode = 493 },
        new WriteFileCommand { RequestId = "write-empty", Path = "empty", Content = [] },
        new ReadFileCommand { RequestId = "read", Path = "a/b.txt", MaxBytes = 10 },
        new ReadFileCommand { RequestId = "read-default", Path = "a/b.txt" },
        new ListDirCommand { RequestId = "list", Path = "a" },
        new ListDirCommand { RequestId = "list-root" },
        new PingCommand { RequestId = "ping" },
        new ShutdownCommand { RequestId = "shutdown" },
    ];

    public static IReadOnlyList<Observation> Observations { get; } =
    [
        new ReadyObservation { Sequence = 1, ProtocolVersion = ProtocolInfo.Version, AgentVersion = "0.1.0", Capabilities = ["exec", "files"] },
        new ReadyObservation { Sequence = 1, ProtocolVersion = ProtocolInfo.Version, AgentVersion = "x" },
        new OutputObservation { RequestId = "exec-full", Sequence = 2, Stream = OutputChannel.Stdout, Data = Encoding.UTF8.GetBytes("out\n") },
        new OutputObservation { RequestId = "exec-full", Sequence = 3, Stream = OutputChannel.Stderr, Data = [0xFF, 0x00] },
        new CompleteObservation { RequestId = "exec-full", Sequence = 4, ExitCode = 3, DurationMs = 12, Reason = CompletionReason.Exited },
        new CompleteObservation { RequestId = "exec-full", Sequence = 5, Signal = 9, DurationMs = 5000, Truncated = true, Reason = CompletionReason.OutputLimit, Unconfined = true },
        new CompleteObservation { RequestId = "exec-full", Sequence = 6, Signal = 15, DurationMs = 1, Reason = CompletionReason.Cancelled },
        new CompleteObservation { RequestId = "exec-full", Sequence = 7, Signal = 9, DurationMs = 1, Reason = CompletionReason.TimedOut },
        new ErrorObservation { RequestId = "read", Sequence = 8, Code = ProtocolErrorCodes.NotFound, Message = "no such file" },
        new ErrorObservation { Sequence = 9, Code = ProtocolErrorCodes.BadFrame, Message = "not JSON" },
        new FileContentObservation { RequestId = "read", Sequence = 10, Path = "a/b.txt", Content = [1, 2, 3], Size = 30, Truncated = true },
        new FileWrittenObservation { RequestId = "write-full", Sequence = 11, Path = "a/b.txt", Bytes = 3 },
        new DirListingObservation
        {
            RequestId = "list",
            Sequence = 12,
            Path = "a",
            Entries = [new("b.txt", EntryKind.File, 3, 420), new("c", EntryKind.Directory, 0, 493), new("d", EntryKind.Symlink, 5, 511), new("e", EntryKind.Other, 0, 384)],
        },
        new DirListingObservation { RequestId = "list-root", Sequence = 13, Path = "", Entries = [] },
        new PongObservation { RequestId = "ping", Sequence = 14 },
        new MetricsObservation { Sequence = 15, RunningCommands = 2, CompletedCommands = 40 },
        new MetricsObservation { Sequence = 16 },
        new ShuttingDownObservation { RequestId = "shutdown", Sequence = 17, Reason = "shutdown requested" },
    ];

    /// <summary>Every concrete command and observation type, found by reflection.</summary>
    public static IReadOnlyList<Type> ConcreteTypesOf<TBase>() =>
        [.. typeof(TBase).Assembly.GetTypes().Where(t => t.IsSubclassOf(typeof(TBase)) && !t.IsAbstract).OrderBy(t => t.Name, StringComparer.Ordinal)];

    /// <summary>A frame with <paramref name="body"/> behind a correct length prefix.</summary>
    public static byte[] Frame(string body) => Frame(Encoding.UTF8.GetBytes(body));

    /// <summary>A frame with <paramref name="body"/> behind a correct length prefix.</summary>
    public static byte[] Frame(byte[] body)
    {
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame, 4);
        return frame;
    }

    /// <summary>A bare length prefix.</summary>
    public static byte[] Prefix(uint length)
    {
        var prefix = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(prefix, length);
        return prefix;
    }

    public static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    /// <summary>The JSON of a message, to compare messages whose records hold arrays and lists.</summary>
    public static string Json(object message) => message switch
    {
        Command c => FrameCodec.Serialize(c),
        Observation o => FrameCodec.Serialize(o),
        _ => throw new ArgumentException("not a message", nameof(message)),
    };
}

/// <summary>A read-only stream over bytes that hands out at most a few bytes per read, as a slow socket does.</summary>
internal sealed class ChunkedReadStream(byte[] data, int maxChunk) : Stream
{
    private int _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = Math.Min(Math.Min(buffer.Length, maxChunk), data.Length - _position);
        data.AsSpan(_position, n).CopyTo(buffer);
        _position += n;
        return n;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>
/// A stream of <paramref name="head"/>, then <paramref name="fillerBytes"/> bytes that are never stored (reads report
/// them without touching the buffer), then <paramref name="tail"/>: a frame of gigabytes at no memory cost.
/// </summary>
internal sealed class HugeFrameStream(byte[] head, long fillerBytes, byte[] tail) : Stream
{
    private long _position;

    public long TotalLength => head.Length + fillerBytes + tail.Length;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position < head.Length)
        {
            var n = Math.Min(buffer.Length, head.Length - (int)_position);
            head.AsSpan((int)_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        if (_position < head.Length + fillerBytes)
        {
            var n = (int)Math.Min(buffer.Length, head.Length + fillerBytes - _position);
            _position += n;
            return n;
        }

        var offset = (int)(_position - head.Length - fillerBytes);
        var count = Math.Min(buffer.Length, tail.Length - offset);
        tail.AsSpan(offset, count).CopyTo(buffer);
        _position += count;
        return count;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(Read(buffer.Span));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>
/// A readable stream fed by the test, piece by piece: a read waits (cancellably, consuming nothing when cancelled)
/// until the test sends bytes or completes the stream.
/// </summary>
internal sealed class FedStream : Stream
{
    private readonly Channel<byte[]> _pieces = Channel.CreateUnbounded<byte[]>();
    private byte[] _current = [];
    private int _offset;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public void Feed(byte[] bytes) => _pieces.Writer.TryWrite(bytes);

    public void End() => _pieces.Writer.TryComplete();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (_offset == _current.Length)
        {
            if (!await _pieces.Reader.WaitToReadAsync(cancellationToken))
            {
                return 0;
            }

            _pieces.Reader.TryRead(out var next);
            _current = next ?? [];
            _offset = 0;
        }

        var n = Math.Min(buffer.Length, _current.Length - _offset);
        _current.AsMemory(_offset, n).CopyTo(buffer);
        _offset += n;
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

/// <summary>
/// A write-only stream into memory that writes each buffer a few bytes at a time and yields between pieces, so that
/// writers not holding a lock would interleave their frames.
/// </summary>
internal sealed class TrickleWriteStream : Stream
{
    private readonly MemoryStream _inner = new();
    private readonly Lock _gate = new();

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public byte[] ToArray()
    {
        lock (_gate)
        {
            return _inner.ToArray();
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        for (var offset = 0; offset < buffer.Length; offset += 7)
        {
            lock (_gate)
            {
                _inner.Write(buffer.Span.Slice(offset, Math.Min(7, buffer.Length - offset)));
            }

            await Task.Yield();
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
