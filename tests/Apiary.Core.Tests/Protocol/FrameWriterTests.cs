using System.IO.Pipes;
using System.Text;
using Apiary.Protocol;
using static Apiary.Tests.Protocol.ProtocolTestData;

namespace Apiary.Tests.Protocol;

public sealed class FrameWriterTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task WriteAsync_ConcurrentWritersOnATrickleStream_NeverInterleaveFrames()
    {
        const int Writers = 16;
        const int FramesEach = 25;
        using var stream = new TrickleWriteStream();
        using var writer = new FrameWriter(stream);

        await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(
            async () =>
            {
                for (var i = 0; i < FramesEach; i++)
                {
                    // Sizes differ so that frames of different writers would overlap at odd offsets.
                    var data = Encoding.UTF8.GetBytes(new string((char)('a' + w), 1 + ((w * 37 + i * 101) % 3000)));
                    await writer.WriteAsync(new OutputObservation { RequestId = $"w{w}-{i}", Stream = OutputChannel.Stdout, Data = data }, Ct);
                }
            },
            Ct)));

        var received = await ReadAllObservationsAsync(new MemoryStream(stream.ToArray()));
        Assert.Equal(Writers * FramesEach, received.Count);
        foreach (var group in received.Cast<OutputObservation>().GroupBy(o => o.RequestId![..o.RequestId!.IndexOf('-', StringComparison.Ordinal)]))
        {
            var w = int.Parse(group.Key[1..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(Enumerable.Range(0, FramesEach).Select(i => $"w{w}-{i}"), group.Select(o => o.RequestId));
            Assert.All(group, o => Assert.Equal(-1, o.Data.AsSpan().IndexOfAnyExcept((byte)('a' + w))));
        }
    }

    [Fact]
    public async Task WriteAsync_ConcurrentWritersOfFramesLargerThanThePipeBuffer_ArriveWhole()
    {
        const int Writers = 8;
        const int FramesEach = 6;
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);

        var reading = Task.Run(() => ReadAllObservationsAsync(client), Ct);
        using (var writer = new FrameWriter(server))
        {
            await Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(
                async () =>
                {
                    for (var i = 0; i < FramesEach; i++)
                    {
                        var data = new byte[200_000 + w * 1000 + i];
                        Array.Fill(data, (byte)w);
                        await writer.WriteAsync(new OutputObservation { RequestId = $"w{w}-{i}", Stream = OutputChannel.Stderr, Data = data }, Ct);
                    }
                },
                Ct)));
        }

        await server.DisposeAsync();
        var received = await reading;

        Assert.Equal(Writers * FramesEach, received.Count);
        Assert.All(received.Cast<OutputObservation>(), o => Assert.Equal(-1, o.Data.AsSpan().IndexOfAnyExcept((byte)(o.RequestId![1] - '0'))));
    }

    [Fact]
    public async Task WriteSequencedAsync_ConcurrentWriters_NumbersFromOneInWireOrder()
    {
        using var stream = new TrickleWriteStream();
        using var writer = new FrameWriter(stream);

        var numbers = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(
            async () => await writer.WriteSequencedAsync(new PongObservation { RequestId = $"p{i}" }, Ct),
            Ct)));

        var received = await ReadAllObservationsAsync(new MemoryStream(stream.ToArray()));
        Assert.Equal(Enumerable.Range(1, 200).Select(n => (long)n), received.Select(o => o.Sequence));
        Assert.Equal(Enumerable.Range(1, 200).Select(n => (long)n), numbers.Order());
        Assert.Equal(200, writer.LastSequence);
    }

    [Fact]
    public async Task WriteAsync_MessageOverTheLimit_ThrowsAndWritesNothing()
    {
        using var stream = new MemoryStream();
        using var writer = new FrameWriter(stream, new FrameCodecOptions { MaxFrameBytes = 1000 });

        var tooLarge = await Assert.ThrowsAsync<FrameTooLargeException>(async () =>
            await writer.WriteSequencedAsync(new OutputObservation { RequestId = "r", Stream = OutputChannel.Stdout, Data = new byte[1000] }, Ct));
        Assert.Equal(0, stream.Length);
        Assert.Equal(1000, tooLarge.MaxFrameBytes);

        await writer.WriteSequencedAsync(new PongObservation { RequestId = "r" }, Ct);
        var received = await ReadAllObservationsAsync(new MemoryStream(stream.ToArray()));
        Assert.Equal(1, Assert.Single(received).Sequence);
    }

    [Fact]
    public async Task WriteAsync_CancelledMidFrame_BreaksTheWriter()
    {
        var stream = new StuckWriteStream();
        using var writer = new FrameWriter(stream);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var write = writer.WriteAsync(new PingCommand { RequestId = "r" }, cts.Token).AsTask();
        await stream.WriteStarted;
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write);

        var refused = await Assert.ThrowsAsync<ApiaryException>(async () => await writer.WriteAsync(new PingCommand { RequestId = "s" }, Ct));
        Assert.Contains("frame boundaries", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WriteAsync_AlreadyCancelled_LeavesTheWriterUsable()
    {
        using var stream = new MemoryStream();
        using var writer = new FrameWriter(stream);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await writer.WriteAsync(new PingCommand { RequestId = "r" }, new CancellationToken(canceled: true)));
        await writer.WriteAsync(new PingCommand { RequestId = "s" }, Ct);

        var reader = new FrameReader(new MemoryStream(stream.ToArray()));
        Assert.Equal(new PingCommand { RequestId = "s" }, (await reader.ReadCommandAsync(Ct)).Message);
    }

    [Fact]
    public async Task WriteAsync_RequiredFieldNull_ThrowsApiaryExceptionAndWritesNothing()
    {
        using var stream = new MemoryStream();
        using var writer = new FrameWriter(stream);
        var broken = new ErrorObservation { Code = null!, Message = "m" };

        Assert.Throws<ApiaryException>(() => FrameCodec.Serialize(broken));
        await Assert.ThrowsAsync<ApiaryException>(async () => await writer.WriteAsync(broken, Ct));
        Assert.Equal(0, stream.Length);
    }

    [Fact]
    public async Task BackendLoop_BadFramesBetweenGoodOnes_AnswersEachAndKeepsGoing()
    {
        // A backend's read loop: every failure is answered with its error, numbered like any observation.
        var input = Concat(
            Frame("{\"type\":\"ping\""),
            Frame("""{"type":"self_destruct","request_id":"r-2"}"""),
            FrameCodec.EncodeFrame(new PingCommand { RequestId = "r-3" }),
            Prefix(FrameCodec.DefaultMaxFrameBytes + 1u),
            new byte[FrameCodec.DefaultMaxFrameBytes + 1],
            FrameCodec.EncodeFrame(new PingCommand { RequestId = "r-4" }));
        var reader = new FrameReader(new MemoryStream(input));
        using var output = new MemoryStream();
        using var writer = new FrameWriter(output);

        FrameResult<Command> result;
        while (!(result = await reader.ReadCommandAsync(Ct)).IsEndOfStream)
        {
            await writer.WriteSequencedAsync(result.IsMessage ? new PongObservation { RequestId = result.Message.RequestId } : result.Failure!.ToErrorObservation(), Ct);
        }

        var answers = await ReadAllObservationsAsync(new MemoryStream(output.ToArray()));
        Assert.Equal(
            ["error bad_frame  1", "error unknown_type r-2 2", "pong  r-3 3", "error frame_too_large  4", "pong  r-4 5"],
            answers.Select(a => a is ErrorObservation e ? $"error {e.Code} {e.RequestId} {e.Sequence}" : $"pong  {a.RequestId} {a.Sequence}"));
    }

    private static async Task<List<Observation>> ReadAllObservationsAsync(Stream stream)
    {
        var reader = new FrameReader(stream);
        var received = new List<Observation>();
        FrameResult<Observation> result;
        while (!(result = await reader.ReadObservationAsync(Ct)).IsEndOfStream)
        {
            Assert.True(result.IsMessage, result.Failure?.Message);
            received.Add(result.Message);
        }

        return received;
    }

    /// <summary>A stream whose writes start, then hang until cancelled: a peer that stopped reading.</summary>
    private sealed class StuckWriteStream : Stream
    {
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task WriteStarted => _started.Task;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var stuck = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await using var registration = cancellationToken.Register(() => stuck.TrySetCanceled(cancellationToken));
            _started.TrySetResult();
            await stuck.Task;
        }

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("async only");

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
