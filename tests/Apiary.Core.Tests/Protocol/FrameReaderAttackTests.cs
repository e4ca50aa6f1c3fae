using System.Text;
using Apiary.Protocol;
using FsCheck;
using FsCheck.Fluent;
using static Apiary.Tests.Protocol.ProtocolTestData;

namespace Apiary.Tests.Protocol;

/// <summary>Hostile or broken input: every case must come back as a value, never as an exception, and never cost the memory it claims.</summary>
public sealed class FrameReaderAttackTests
{
    private static readonly FrameCodecOptions SmallLimits = new() { MaxFrameBytes = 256, MaxDiscardBytes = 1024 };

    private static readonly byte[] ValidPing = FrameCodec.EncodeFrame(new PingCommand { RequestId = "after" });

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("{\"type\":\"ping\",")]
    [InlineData("not json at all")]
    [InlineData("{\"type\":\"ping\",\"request_id\":\"r\"} trailing")]
    [InlineData("{'type':'ping'}")]
    public async Task ReadCommandAsync_MalformedJson_FailsAsBadFrameAndGoesOn(string body)
    {
        var reader = new FrameReader(new MemoryStream(Concat(Frame(body), ValidPing)));

        var bad = await reader.ReadCommandAsync(Ct);
        var next = await reader.ReadCommandAsync(Ct);

        Assert.True(bad.IsFailure);
        Assert.Equal(FrameFailureKind.MalformedJson, bad.Failure.Kind);
        Assert.Equal("bad_frame", bad.Failure.Code);
        Assert.True(bad.Failure.CanContinue);
        Assert.Equal(Encoding.UTF8.GetByteCount(body), bad.Failure.FrameLength);
        Assert.Equal(new PingCommand { RequestId = "after" }, next.Message);
        Assert.True((await reader.ReadCommandAsync(Ct)).IsEndOfStream);
    }

    [Fact]
    public async Task ReadCommandAsync_UnknownType_FailsWithTheRequestIdRecovered()
    {
        var reader = new FrameReader(new MemoryStream(Concat(Frame("""{"request_id":"r-42","type":"format_disk","device":"/dev/sda"}"""), ValidPing)));

        var bad = await reader.ReadCommandAsync(Ct);
        var next = await reader.ReadCommandAsync(Ct);

        Assert.True(bad.IsFailure);
        Assert.Equal(FrameFailureKind.UnknownType, bad.Failure.Kind);
        Assert.Equal("r-42", bad.Failure.RequestId);
        Assert.Contains("format_disk", bad.Failure.Message, StringComparison.Ordinal);
        var error = bad.Failure.ToErrorObservation();
        Assert.Equal(("r-42", "unknown_type"), (error.RequestId, error.Code));
        Assert.True(next.IsMessage);
    }

    [Fact]
    public void DecodeCommand_AnObservationType_IsUnknownForCommands()
    {
        var result = FrameCodec.DeserializeCommand("""{"type":"ready","protocol_version":1,"agent_version":"x","sequence":1}""");

        Assert.Equal(FrameFailureKind.UnknownType, result.Failure?.Kind);
    }

    [Theory]
    [InlineData("""{"type":"exec","request_id":"r-1"}""", "command")]
    [InlineData("""{"type":"exec","request_id":"r-1","command":null}""", "command")]
    [InlineData("""{"type":"exec","request_id":"r-1","command":"ls","args":"-la"}""", "args")]
    [InlineData("""{"type":"exec","request_id":"r-1","command":"ls","args":["-l",null]}""", "args")]
    [InlineData("""{"type":"exec","request_id":"r-1","command":"ls","env":{"A":null}}""", "env")]
    [InlineData("""{"type":"exec","request_id":"r-1","command":"ls","timeout_ms":1e999}""", "timeout_ms")]
    [InlineData("""{"type":"write_file","request_id":"r-1","path":"a","content":"not base64!"}""", "content")]
    [InlineData("""{"type":"cancel","request_id":"r-1","request_id":"r-2","target_request_id":"x"}""", "request_id")]
    public void DeserializeCommand_MissingOrInvalidField_FailsAsBadFrameWithTheRequestId(string json, string field)
    {
        var result = FrameCodec.DeserializeCommand(json);

        Assert.True(result.IsFailure);
        Assert.Equal(FrameFailureKind.InvalidFields, result.Failure.Kind);
        Assert.Equal("bad_frame", result.Failure.Code);
        Assert.Contains(field, result.Failure.Message, StringComparison.Ordinal);
        Assert.Equal("r-1", result.Failure.RequestId);
    }

    [Theory]
    [InlineData("""{"type":"dir_listing","request_id":"r-1","sequence":2,"path":"","entries":[null]}""")]
    [InlineData("""{"type":"dir_listing","request_id":"r-1","sequence":2,"path":"","entries":[{"kind":"file","size":1,"mode":420}]}""")]
    [InlineData("""{"type":"output","request_id":"r-1","sequence":2,"stream":"stdin","data":""}""")]
    [InlineData("""{"type":"ready","request_id":"r-1","sequence":1,"protocol_version":1,"agent_version":"x","capabilities":[null]}""")]
    [InlineData("""{"type":"complete","request_id":"r-1","sequence":2,"duration_ms":1,"reason":"exploded"}""")]
    public void DeserializeObservation_MissingOrInvalidField_FailsAsBadFrame(string json)
    {
        var result = FrameCodec.DeserializeObservation(json);

        Assert.Equal(FrameFailureKind.InvalidFields, result.Failure?.Kind);
        Assert.Equal("r-1", result.Failure?.RequestId);
    }

    [Theory]
    [InlineData("""{"request_id":"r-1"}""", "r-1")]
    [InlineData("""{"type":7,"request_id":"r-1"}""", "r-1")]
    [InlineData("""[{"type":"ping","request_id":"r-1"}]""", null)]
    [InlineData("\"ping\"", null)]
    [InlineData("null", null)]
    public void DeserializeCommand_NoStringType_FailsAsMissingType(string json, string? requestId)
    {
        var result = FrameCodec.DeserializeCommand(json);

        Assert.Equal(FrameFailureKind.MissingType, result.Failure?.Kind);
        Assert.Equal("bad_frame", result.Failure?.Code);
        Assert.Equal(requestId, result.Failure?.RequestId);
    }

    [Fact]
    public async Task ReadCommandAsync_EmptyAndInvalidUtf8Frames_FailAndGoOn()
    {
        var invalidUtf8 = Concat(Encoding.UTF8.GetBytes("{\"type\":\"ping\",\"request_id\":\""), [0xC3, 0x28, 0xFF], Encoding.UTF8.GetBytes("\"}"));
        var reader = new FrameReader(new MemoryStream(Concat(Frame([]), Frame(invalidUtf8), ValidPing)));

        var empty = await reader.ReadCommandAsync(Ct);
        var garbled = await reader.ReadCommandAsync(Ct);
        var next = await reader.ReadCommandAsync(Ct);

        Assert.Equal(FrameFailureKind.MalformedJson, empty.Failure?.Kind);
        Assert.True(garbled.IsFailure);
        Assert.Null(garbled.Failure.RequestId);
        Assert.True(next.IsMessage);
    }

    [Fact]
    public void DeserializeCommand_LoneSurrogateOrHugeRequestId_IsNotEchoed()
    {
        var surrogate = FrameCodec.DeserializeCommand("""{"type":"nope","request_id":"\ud800"}""");
        var huge = FrameCodec.DeserializeCommand($$"""{"type":"nope","request_id":"{{new string('x', 5000)}}"}""");

        Assert.Equal(FrameFailureKind.UnknownType, surrogate.Failure?.Kind);
        Assert.Null(surrogate.Failure?.RequestId);
        Assert.Null(huge.Failure?.RequestId);

        // The error about them can always be sent.
        Assert.NotEmpty(FrameCodec.Serialize(surrogate.Failure!.ToErrorObservation()));
    }

    [Fact]
    public void DeserializeCommand_DeepNesting_FailsWithoutThrowing()
    {
        var deep = "{\"type\":\"exec\",\"request_id\":\"r\",\"command\":\"ls\",\"env\":" + new string('[', 100_000) + new string(']', 100_000) + "}";

        var result = FrameCodec.DeserializeCommand(deep);

        Assert.True(result.IsFailure);
    }

    [Fact]
    public async Task ReadCommandAsync_LengthPrefixOf2GiB_FailsWithoutAllocatingItAndStops()
    {
        var reader = new FrameReader(new MemoryStream(Concat(Prefix(2u * 1024 * 1024 * 1024), ValidPing)));

        var before = GC.GetAllocatedBytesForCurrentThread();
        var pending = reader.ReadCommandAsync(Ct);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(pending.IsCompleted, "a read over a MemoryStream completes at once");
        var result = await pending;

        Assert.True(result.IsFailure);
        Assert.Equal(FrameFailureKind.TooLarge, result.Failure.Kind);
        Assert.Equal("frame_too_large", result.Failure.Code);
        Assert.Equal(2L * 1024 * 1024 * 1024, result.Failure.FrameLength);
        Assert.False(result.Failure.CanContinue);
        Assert.Contains("cannot be resynchronized", result.Failure.Message, StringComparison.Ordinal);
        Assert.True(allocated < 1024 * 1024, $"reading the prefix allocated {allocated} bytes");
        Assert.True((await reader.ReadCommandAsync(Ct)).IsEndOfStream);
    }

    [Fact]
    public async Task ReadCommandAsync_2GiBFrameWithinTheDiscardLimit_IsSkippedInBoundedMemory()
    {
        const long Huge = 2L * 1024 * 1024 * 1024;
        var stream = new HugeFrameStream(Prefix((uint)Huge), Huge, ValidPing);
        var reader = new FrameReader(stream, new FrameCodecOptions { MaxDiscardBytes = uint.MaxValue });

        var before = GC.GetAllocatedBytesForCurrentThread();
        var pending = reader.ReadCommandAsync(Ct);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(pending.IsCompleted);
        var skipped = await pending;
        var next = await reader.ReadCommandAsync(Ct);

        Assert.Equal(FrameFailureKind.TooLarge, skipped.Failure?.Kind);
        Assert.True(skipped.Failure?.CanContinue);
        Assert.True(allocated < 1024 * 1024, $"skipping 2 GiB allocated {allocated} bytes");
        Assert.Equal(new PingCommand { RequestId = "after" }, next.Message);
    }

    [Fact]
    public async Task ReadCommandAsync_OversizedFrame_IsSkippedAndTheNextFrameRead()
    {
        var oversized = Frame(new byte[300]);
        var reader = new FrameReader(new ChunkedReadStream(Concat(oversized, ValidPing), maxChunk: 100), SmallLimits);

        var skipped = await reader.ReadCommandAsync(Ct);
        var next = await reader.ReadCommandAsync(Ct);

        Assert.Equal(FrameFailureKind.TooLarge, skipped.Failure?.Kind);
        Assert.Equal(300, skipped.Failure?.FrameLength);
        Assert.True(skipped.Failure?.CanContinue);
        Assert.Contains("skipped", skipped.Failure?.Message, StringComparison.Ordinal);
        Assert.True(next.IsMessage);
    }

    [Fact]
    public async Task ReadCommandAsync_StreamEndsWhileSkipping_FailsAndStops()
    {
        var reader = new FrameReader(new MemoryStream(Concat(Prefix(900), new byte[500])), SmallLimits);

        var result = await reader.ReadCommandAsync(Ct);

        Assert.Equal(FrameFailureKind.TooLarge, result.Failure?.Kind);
        Assert.False(result.Failure?.CanContinue);
        Assert.True((await reader.ReadCommandAsync(Ct)).IsEndOfStream);
    }

    [Fact]
    public async Task ReadCommandAsync_JsonWithoutLengthPrefix_SaysSo()
    {
        var reader = new FrameReader(new MemoryStream(Encoding.UTF8.GetBytes("""{"type":"ping","request_id":"r"}""")));

        var result = await reader.ReadCommandAsync(Ct);

        Assert.Equal(FrameFailureKind.TooLarge, result.Failure?.Kind);
        Assert.False(result.Failure?.CanContinue);
        Assert.Contains("JSON without length prefixes", result.Failure?.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReadCommandAsync_TruncatedFrame_FailsAsTruncatedThenEnds()
    {
        var whole = FrameCodec.EncodeFrame(new PingCommand { RequestId = "r" });
        var reader = new FrameReader(new MemoryStream(whole[..^5]));

        var result = await reader.ReadCommandAsync(Ct);

        Assert.True(result.IsFailure);
        Assert.Equal(FrameFailureKind.Truncated, result.Failure.Kind);
        Assert.Equal("bad_frame", result.Failure.Code);
        Assert.False(result.Failure.CanContinue);
        Assert.Equal(whole.Length - 4, result.Failure.FrameLength);
        Assert.True((await reader.ReadCommandAsync(Ct)).IsEndOfStream);
    }

    [Fact]
    public async Task ReadCommandAsync_TruncatedLengthPrefix_FailsAsTruncated()
    {
        var reader = new FrameReader(new MemoryStream([0, 0]));

        var result = await reader.ReadCommandAsync(Ct);

        Assert.Equal(FrameFailureKind.Truncated, result.Failure?.Kind);
        Assert.Null(result.Failure?.FrameLength);
    }

    [Fact]
    public async Task ReadCommandAsync_EmptyStream_IsACleanEnd()
    {
        var reader = new FrameReader(new MemoryStream());

        var result = await reader.ReadCommandAsync(Ct);

        Assert.True(result.IsEndOfStream);
        Assert.False(result.IsFailure);
        Assert.False(result.IsMessage);
    }

    [Fact]
    public async Task ReadCommandAsync_CancelledMidFrame_ResumesWithTheSameFrame()
    {
        var frame = FrameCodec.EncodeFrame(new PingCommand { RequestId = "resumed" });
        var stream = new FedStream();
        var reader = new FrameReader(stream);
        stream.Feed(frame[..10]);

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var pending = reader.ReadCommandAsync(cts.Token);
        Assert.False(pending.IsCompleted);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pending);

        stream.Feed(frame[10..]);
        stream.End();
        var result = await reader.ReadCommandAsync(Ct);

        Assert.Equal(new PingCommand { RequestId = "resumed" }, result.Message);
    }

    [Fact]
    public async Task ReadCommandAsync_OverlappingReads_AreRefused()
    {
        var stream = new FedStream();
        var reader = new FrameReader(stream);

        var first = reader.ReadCommandAsync(Ct);
        await Assert.ThrowsAsync<InvalidOperationException>(async () => await reader.ReadCommandAsync(Ct));

        stream.Feed(ValidPing);
        Assert.True((await first).IsMessage);
    }

    [Theory]
    [InlineData(0, 10L)]
    [InlineData(1, 10L)]
    [InlineData(int.MaxValue, 10L)]
    [InlineData(1024, -1L)]
    public void Constructor_LimitOutOfRange_Throws(int maxFrameBytes, long maxDiscardBytes)
    {
        var options = new FrameCodecOptions { MaxFrameBytes = maxFrameBytes, MaxDiscardBytes = maxDiscardBytes };

        Assert.Throws<ArgumentOutOfRangeException>(() => new FrameReader(new MemoryStream(), options));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FrameWriter(new MemoryStream(), options));
    }

    [Fact]
    public void ReadAsync_ArbitraryBytes_NeverThrowAndAlwaysEnd()
    {
        var raw = ArbMap.Default.GeneratorFor<byte[]>().Where(b => b is not null);
        var inputs = Gen.OneOf(raw, FrameSoup).SelectMany(bytes => Gen.Choose(1, 9).Select(chunk => (bytes, chunk)));

        Prop.ForAll(inputs.ToArbitrary(), input => ReadsCleanly(input.bytes, input.chunk, SmallLimits) && ReadsCleanly(input.bytes, input.chunk, FrameCodecOptions.Default))
            .QuickCheckThrowOnFailure();
    }

    [Fact]
    public void DecodeCommand_EscapedLoneSurrogateInPropertyName_FailureNotException()
    {
        // Found by the property below: the diagnosis pass compared this name and the reader threw.
        var result = FrameCodec.DecodeCommand("{\"\\ud800\":\"x\",\"type1[\":0}"u8);
        Assert.True(result.IsFailure);
        Assert.Equal(FrameFailureKind.MalformedJson, result.Failure!.Kind);
    }

    [Fact]
    public void ReadAsync_AnyBadFrameThenAValidOne_ReadsTheValidOne()
    {
        var inputs = Gen.OneOf(JsonishBody, ArbMap.Default.GeneratorFor<byte[]>().Where(b => b is not null && b.Length <= 256))
            .SelectMany(bad => Gen.Elements(Commands.ToArray()).Select(good => (bad, good)));

        Prop.ForAll(inputs.ToArbitrary(), input =>
        {
            var reader = new FrameReader(new ChunkedReadStream(Concat(Frame(input.bad), FrameCodec.EncodeFrame(input.good)), maxChunk: 5));
            var first = ReadNow(reader);
            var second = ReadNow(reader);
            return (first.IsMessage || first.Failure?.CanContinue == true)
                && second.IsMessage
                && Json(second.Message) == Json(input.good)
                && ReadNow(reader).IsEndOfStream;
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>Reads frames until the end, checking each result is exactly one thing and that reading ends.</summary>
    private static bool ReadsCleanly(byte[] bytes, int chunk, FrameCodecOptions options)
    {
        var commands = new FrameReader(new ChunkedReadStream(bytes, chunk), options);
        var observations = new FrameReader(new ChunkedReadStream(bytes, chunk), options);
        for (var reads = 0; reads <= bytes.Length + 1; reads++)
        {
            var command = ReadNow(commands);
            var observation = ReadNowObservation(observations);
            if (!IsExactlyOneThing(command) || !IsExactlyOneThing(observation))
            {
                return false;
            }

            if (command.IsEndOfStream && observation.IsEndOfStream)
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsExactlyOneThing<TMessage>(FrameResult<TMessage> result)
        where TMessage : class
    {
        if ((result.IsMessage ? 1 : 0) + (result.IsFailure ? 1 : 0) + (result.IsEndOfStream ? 1 : 0) != 1)
        {
            return false;
        }

        // Whatever came can be answered or passed on.
        if (result.Failure is { } failure)
        {
            var error = FrameCodec.DeserializeObservation(FrameCodec.Serialize(failure.ToErrorObservation()));
            return error.Message is ErrorObservation { Code: "bad_frame" or "unknown_type" or "frame_too_large" };
        }

        return result.Message is null || Json(result.Message).Length > 0;
    }

    private static FrameResult<Command> ReadNow(FrameReader reader)
    {
        var pending = reader.ReadCommandAsync(Ct);
        return pending.IsCompleted ? pending.Result : throw new InvalidOperationException("a read over an in-memory stream completes at once");
    }

    private static FrameResult<Observation> ReadNowObservation(FrameReader reader)
    {
        var pending = reader.ReadObservationAsync(Ct);
        return pending.IsCompleted ? pending.Result : throw new InvalidOperationException("a read over an in-memory stream completes at once");
    }

    /// <summary>Bodies made of JSON pieces, so that most are near misses rather than noise.</summary>
    private static Gen<byte[]> JsonishBody =>
        Gen.Choose(0, 24)
            .SelectMany(n => Gen.ArrayOf(
                Gen.Elements(
                    "{", "}", "[", "]", ":", ",", "\"type\"", "\"request_id\"", "\"exec\"", "\"ping\"", "\"ready\"", "\"command\"",
                    "\"args\"", "\"env\"", "\"content\"", "\"AAEC\"", "\"r-1\"", "null", "1", "-1e999", "true", "\"\\ud800\"",
                    "\"\\u0000\"", "\"é\"", "\"type\":\"cancel\"", "\"target_request_id\":\"x\""),
                n))
            .Select(pieces => Encoding.UTF8.GetBytes(string.Concat(pieces)));

    /// <summary>Streams of valid frames, near-miss frames, oversized frames and noise, back to back.</summary>
    private static Gen<byte[]> FrameSoup =>
        Gen.Choose(0, 6).SelectMany(n => Gen.ArrayOf(
            Gen.OneOf(
                Gen.Elements(Commands.ToArray()).Select(FrameCodec.EncodeFrame),
                Gen.Elements(Observations.ToArray()).Select(FrameCodec.EncodeFrame),
                JsonishBody.Select(Frame),
                Gen.Choose(257, 2000).Select(length => Concat(Prefix((uint)length), new byte[length % 700])),
                ArbMap.Default.GeneratorFor<byte[]>().Where(b => b is not null)),
            n))
        .Select(parts => Concat(parts));
}
