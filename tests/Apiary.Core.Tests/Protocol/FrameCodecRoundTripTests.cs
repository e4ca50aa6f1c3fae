using System.Buffers.Binary;
using System.IO.Pipes;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Apiary.Protocol;

namespace Apiary.Tests.Protocol;

public sealed class FrameCodecRoundTripTests
{
    [Fact]
    public void Samples_CoverEveryCommandAndObservationType()
    {
        Assert.Equal(ProtocolTestData.ConcreteTypesOf<Command>(), ProtocolTestData.Commands.Select(c => c.GetType()).Distinct().OrderBy(t => t.Name, StringComparer.Ordinal));
        Assert.Equal(ProtocolTestData.ConcreteTypesOf<Observation>(), ProtocolTestData.Observations.Select(o => o.GetType()).Distinct().OrderBy(t => t.Name, StringComparer.Ordinal));
    }

    [Fact]
    public async Task ReadCommandAsync_EveryCommandThroughAPipe_ArrivesUnchanged()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        var ct = TestContext.Current.CancellationToken;

        var sending = Task.Run(
            async () =>
            {
                using var writer = new FrameWriter(server);
                foreach (var command in ProtocolTestData.Commands)
                {
                    await writer.WriteAsync(command, ct);
                }

                // Closing the write end is the clean end of the stream the reader must see.
                await server.DisposeAsync();
            },
            ct);

        var reader = new FrameReader(client);
        var received = new List<Command>();
        FrameResult<Command> result;
        while ((result = await reader.ReadCommandAsync(ct)).IsMessage)
        {
            received.Add(result.Message);
        }

        await sending;
        Assert.True(result.IsEndOfStream, result.Failure?.Message);
        Assert.Equal(ProtocolTestData.Commands.Select(c => c.GetType()), received.Select(c => c.GetType()));
        Assert.Equal(ProtocolTestData.Commands.Select(ProtocolTestData.Json), received.Select(ProtocolTestData.Json));
        var exec = Assert.IsType<ExecCommand>(received[0]);
        Assert.Equal(new byte[] { 0, 1, 2, 0xFE, 0xFF }, exec.Stdin);
        Assert.Equal("héllo 😀", exec.Args[2]);
        Assert.Equal("two words", exec.Env["B"]);
    }

    [Fact]
    public async Task ReadObservationAsync_EveryObservationThroughAPipe_ArrivesUnchanged()
    {
        using var server = new AnonymousPipeServerStream(PipeDirection.Out);
        using var client = new AnonymousPipeClientStream(PipeDirection.In, server.ClientSafePipeHandle);
        var ct = TestContext.Current.CancellationToken;

        var sending = Task.Run(
            async () =>
            {
                using var writer = new FrameWriter(server);
                foreach (var observation in ProtocolTestData.Observations)
                {
                    await writer.WriteAsync(observation, ct);
                }

                // Closing the write end is the clean end of the stream the reader must see.
                await server.DisposeAsync();
            },
            ct);

        var reader = new FrameReader(client);
        var received = new List<Observation>();
        FrameResult<Observation> result;
        while ((result = await reader.ReadObservationAsync(ct)).IsMessage)
        {
            received.Add(result.Message);
        }

        await sending;
        Assert.True(result.IsEndOfStream, result.Failure?.Message);
        Assert.Equal(ProtocolTestData.Observations.Select(ProtocolTestData.Json), received.Select(ProtocolTestData.Json));
        var listing = Assert.IsType<DirListingObservation>(received.First(o => o is DirListingObservation));
        Assert.Equal(new DirEntry("d", EntryKind.Symlink, 5, 511), listing.Entries[2]);
    }

    [Fact]
    public async Task ReadAsync_EveryMessageInOneByteReads_ArrivesUnchanged()
    {
        var bytes = ProtocolTestData.Concat([.. ProtocolTestData.Observations.Select(FrameCodec.EncodeFrame)]);
        var reader = new FrameReader(new ChunkedReadStream(bytes, maxChunk: 1));

        var received = new List<Observation>();
        FrameResult<Observation> result;
        while ((result = await reader.ReadObservationAsync(TestContext.Current.CancellationToken)).IsMessage)
        {
            received.Add(result.Message);
        }

        Assert.True(result.IsEndOfStream);
        Assert.Equal(ProtocolTestData.Observations.Select(ProtocolTestData.Json), received.Select(ProtocolTestData.Json));
    }

    [Fact]
    public void Serialize_EveryMessage_StartsWithTypeAndDeserializesToTheSame()
    {
        foreach (var command in ProtocolTestData.Commands)
        {
            var json = FrameCodec.Serialize(command);
            Assert.StartsWith("{\"type\":\"", json, StringComparison.Ordinal);
            var back = FrameCodec.DeserializeCommand(json);
            Assert.True(back.IsMessage, back.Failure?.Message);
            Assert.Equal(command.GetType(), back.Message.GetType());
            Assert.Equal(json, FrameCodec.Serialize(back.Message));
        }

        foreach (var observation in ProtocolTestData.Observations)
        {
            var json = FrameCodec.Serialize(observation);
            Assert.StartsWith("{\"type\":\"", json, StringComparison.Ordinal);
            var back = FrameCodec.DeserializeObservation(json);
            Assert.True(back.IsMessage, back.Failure?.Message);
            Assert.Equal(observation.GetType(), back.Message.GetType());
            Assert.Equal(json, FrameCodec.Serialize(back.Message));
        }
    }

    [Fact]
    public void EncodeFrame_Ping_IsBigEndianLengthThenUtf8Json()
    {
        var frame = FrameCodec.EncodeFrame(new PingCommand { RequestId = "r-7" });

        const string Json = """{"type":"ping","request_id":"r-7"}""";
        Assert.Equal((uint)Json.Length, BinaryPrimitives.ReadUInt32BigEndian(frame));
        Assert.Equal(new byte[] { 0, 0, 0, 0x22 }, frame[..4]);
        Assert.Equal(Json, Encoding.UTF8.GetString(frame.AsSpan(4)));
    }

    [Fact]
    public void DeserializeCommand_TypeNotFirstAndUnknownFields_IsAccepted()
    {
        var result = FrameCodec.DeserializeCommand("""{"request_id":"r","added_in_a_later_minor":{"x":[1]},"target_request_id":"t","type":"cancel"}""");

        Assert.True(result.IsMessage, result.Failure?.Message);
        Assert.Equal(new CancelCommand { RequestId = "r", TargetRequestId = "t" }, result.Message);
    }

    [Fact]
    public void DeserializeCommand_OmittedOptionalFields_TakeTheirDefaults()
    {
        var exec = Assert.IsType<ExecCommand>(FrameCodec.DeserializeCommand("""{"type":"exec","request_id":"r","command":"ls"}""").Message);
        var read = Assert.IsType<ReadFileCommand>(FrameCodec.DeserializeCommand("""{"type":"read_file","request_id":"r","path":"a"}""").Message);
        var list = Assert.IsType<ListDirCommand>(FrameCodec.DeserializeCommand("""{"type":"list_dir","request_id":"r"}""").Message);

        Assert.Empty(exec.Args);
        Assert.Empty(exec.Env);
        Assert.Empty(exec.Secrets);
        Assert.Null(exec.Workdir);
        Assert.Null(exec.Stdin);
        Assert.Null(exec.TimeoutMs);
        Assert.Equal(1024 * 1024, read.MaxBytes);
        Assert.Equal("", list.Path);
    }

    [Fact]
    public void Deserialize_OnlyRequiredFields_GivesTheRecordsInitialValues()
    {
        foreach (var sample in ProtocolTestData.Commands.Cast<object>().Concat(ProtocolTestData.Observations))
        {
            var type = sample.GetType();
            var required = ProtocolJsonContext.Default.GetTypeInfo(type)!.Properties.Where(p => p.IsRequired).ToList();
            var full = JsonNode.Parse(ProtocolTestData.Json(sample))!.AsObject();
            var minimal = new JsonObject { ["type"] = full["type"]!.DeepClone() };
            foreach (var property in required)
            {
                minimal[property.Name] = full[property.Name]!.DeepClone();
            }

            // What the record declares: a new instance, its initializers run, given the same required values.
            var expected = Activator.CreateInstance(type)!;
            foreach (var property in required)
            {
                type.GetProperties().Single(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name) == property.Name).SetValue(expected, property.Get!(sample));
            }

            var decoded = sample is Command
                ? (object?)FrameCodec.DeserializeCommand(minimal.ToJsonString()).Message
                : FrameCodec.DeserializeObservation(minimal.ToJsonString()).Message;
            Assert.True(decoded is not null, $"{type.Name}: {minimal.ToJsonString()} did not decode");
            Assert.Equal(ProtocolTestData.Json(expected), ProtocolTestData.Json(decoded));
        }
    }

    [Fact]
    public void DeserializeCommand_ExplicitZeroMaxBytes_StaysZero()
    {
        var read = Assert.IsType<ReadFileCommand>(FrameCodec.DeserializeCommand("""{"type":"read_file","request_id":"r","path":"a","max_bytes":0}""").Message);

        Assert.Equal(0, read.MaxBytes);
    }

    [Fact]
    public void TypeLists_MatchTheDiscriminators()
    {
        Assert.Equal(["cancel", "exec", "list_dir", "ping", "read_file", "shutdown", "write_file"], FrameCodec.CommandTypes.Order(StringComparer.Ordinal));
        Assert.Equal(
            ["complete", "dir_listing", "error", "file_content", "file_written", "metrics", "output", "pong", "ready", "shutting_down"],
            FrameCodec.ObservationTypes.Order(StringComparer.Ordinal));
    }
}
