using System.Net;
using System.Net.Sockets;
using Apiary.Protocol;
using Apiary.Testing;

namespace Apiary.SandboxEndpoint.Tests;

/// <summary>The real <c>apiary-endpoint --listen</c>, spoken to over TCP.</summary>
public sealed class TcpListenTests : IDisposable
{
    private readonly TempDirectory _home = new("apiary-endpoint-home");
    private readonly TempDirectory _workspace = new("apiary-endpoint-ws");

    public void Dispose()
    {
        _workspace.Dispose();
        _home.Dispose();
    }

    [Fact]
    public async Task Listen_Loopback_EachConnectionGetsItsOwnSession()
    {
        var port = FreePort();
        await using var agent = EndpointProcess.Start(_home, "--workspace", _workspace.Path, "--listen", $"127.0.0.1:{port}");
        var listening = await agent.WaitForStderrLineAsync("listening on");
        Assert.Contains($"127.0.0.1:{port}", listening, StringComparison.Ordinal);

        // The first connection writes a file, then shuts its own session down.
        using (var first = await ConnectAsync(port, agent.Token))
        {
            var ready = await first.ReadAsync(agent.Token);
            await first.Writer.WriteAsync(new WriteFileCommand { RequestId = "w-1", Path = "shared.txt", Content = "from the first\n"u8.ToArray() }, agent.Token);
            var written = await first.ReadAsync(agent.Token);
            await first.Writer.WriteAsync(new ShutdownCommand { RequestId = "s-1" }, agent.Token);
            var shuttingDown = await first.ReadAsync(agent.Token);

            Assert.Equal(ProtocolInfo.Version, Assert.IsType<ReadyObservation>(ready).ProtocolVersion);
            Assert.Equal((2L, "w-1"), (Assert.IsType<FileWrittenObservation>(written).Sequence, written.RequestId));
            Assert.Equal((3L, "s-1"), (Assert.IsType<ShuttingDownObservation>(shuttingDown).Sequence, shuttingDown.RequestId));
            Assert.True((await first.Reader.ReadObservationAsync(agent.Token)).IsEndOfStream);
        }

        // The agent still listens; a new connection starts again at sequence 1, on the same workspace.
        using var second = await ConnectAsync(port, agent.Token);
        var secondReady = await second.ReadAsync(agent.Token);
        await second.Writer.WriteAsync(new ExecCommand { RequestId = "e-1", Command = "cat", Args = ["shared.txt"] }, agent.Token);
        var output = await second.ReadAsync(agent.Token);
        await second.Writer.WriteAsync(new PingCommand { RequestId = "p-1" }, agent.Token);
        var others = new[] { await second.ReadAsync(agent.Token), await second.ReadAsync(agent.Token) };

        Assert.Equal(1, Assert.IsType<ReadyObservation>(secondReady).Sequence);
        Assert.Equal("from the first\n", System.Text.Encoding.UTF8.GetString(Assert.IsType<OutputObservation>(output).Data));
        Assert.Contains(others, o => o is CompleteObservation { RequestId: "e-1", ExitCode: 0 });
        Assert.Contains(others, o => o is PongObservation { RequestId: "p-1" });
        Assert.Equal([2L, 3L, 4L], new[] { output.Sequence }.Concat(others.Select(o => o.Sequence)).Order());
    }

    [Fact]
    public async Task Listen_AnyAddressWithoutAllowRemote_RefusedWithExitTwo()
    {
        await using var agent = EndpointProcess.Start(_home, "--workspace", _workspace.Path, "--listen", $"0.0.0.0:{FreePort()}");

        Assert.Equal(2, await agent.WaitForExitAsync());
        Assert.Contains("no authentication", agent.Stderr, StringComparison.Ordinal);
        Assert.Contains("--allow-remote", agent.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Listen_NotHostAndPort_ExitTwo()
    {
        await using var agent = EndpointProcess.Start(_home, "--workspace", _workspace.Path, "--listen", "127.0.0.1:http");

        Assert.Equal(2, await agent.WaitForExitAsync());
        Assert.Contains("HOST:PORT", agent.Stderr, StringComparison.Ordinal);
    }

    /// <summary>A port nobody listens on now: bound to port 0, read, and released.</summary>
    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static async Task<Peer> ConnectAsync(int port, CancellationToken cancellationToken)
    {
        var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        return new Peer(client);
    }

    /// <summary>The host's side of one TCP connection.</summary>
    private sealed class Peer : IDisposable
    {
        private readonly TcpClient _client;

        public Peer(TcpClient client)
        {
            _client = client;
            Reader = new FrameReader(client.GetStream());
            Writer = new FrameWriter(client.GetStream());
        }

        public FrameReader Reader { get; }

        public FrameWriter Writer { get; }

        public async Task<Observation> ReadAsync(CancellationToken cancellationToken)
        {
            var frame = await Reader.ReadObservationAsync(cancellationToken);
            Assert.True(frame.IsMessage, frame.Failure?.Message ?? "the connection ended");
            return frame.Message!;
        }

        public void Dispose()
        {
            Writer.Dispose();
            _client.Dispose();
        }
    }
}
