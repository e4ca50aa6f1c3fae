using System.Net;
using System.Net.Sockets;
using Apiary.SandboxEndpoint.Telemetry;
using Microsoft.Extensions.Logging;

namespace Apiary.SandboxEndpoint;

/// <summary>Where <c>apiary-endpoint</c> finds its connections: stdin/stdout, or a TCP listener.</summary>
internal static class EndpointHost
{
    /// <summary>Serves one connection on the process's standard input and output, then exits.</summary>
    /// <returns>0 when the host left or asked to shut down; 1 when the stream broke.</returns>
    public static async Task<int> ServeStdioAsync(ProtocolServer server, TextWriter log, ILogger logger, CancellationToken cancellationToken)
    {
        // The protocol owns stdout: a stray Console.Write anywhere would corrupt the frames, so it goes to stderr instead.
        Console.SetOut(log);
        await using var input = Console.OpenStandardInput();
        await using var output = Console.OpenStandardOutput();
        try
        {
            var end = await server.ServeAsync(input, output, cancellationToken).ConfigureAwait(false);
            return end == ConnectionEnd.Broken ? EndpointCli.Failure : EndpointCli.Success;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            EndpointLog.StoppedBySignal(logger);
            return EndpointCli.Success;
        }
    }

    /// <summary>Accepts TCP connections on <paramref name="endpoint"/> until stopped, each served with its own session.</summary>
    public static async Task<int> ListenAsync(ProtocolServer server, IPEndPoint endpoint, ILogger logger, CancellationToken cancellationToken)
    {
        var listener = new TcpListener(endpoint);
        try
        {
            listener.Start();
        }
        catch (SocketException ex)
        {
            throw new EndpointStartException(EndpointCli.Failure, $"cannot listen on {endpoint}: {ex.Message}");
        }

        var connections = new List<Task>();
        try
        {
            // Tests and scripts wait for this line: it names the port actually bound, which matters for port 0.
            EndpointLog.Listening(logger, listener.LocalEndpoint);
            while (true)
            {
                var client = await listener.AcceptTcpClientAsync(cancellationToken).ConfigureAwait(false);
                connections.RemoveAll(c => c.IsCompleted);
                connections.Add(Task.Run(() => ServeClientAsync(server, client, logger, cancellationToken), CancellationToken.None));
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            EndpointLog.StoppedBySignal(logger);
            return EndpointCli.Success;
        }
        finally
        {
            listener.Stop();
            await Task.WhenAll(connections).ConfigureAwait(false);
        }
    }

    private static async Task ServeClientAsync(ProtocolServer server, TcpClient client, ILogger logger, CancellationToken cancellationToken)
    {
        using (client)
        {
            var peer = client.Client.RemoteEndPoint;
            EndpointLog.ConnectionAccepted(logger, peer);
            try
            {
                client.NoDelay = true;
                await using var stream = client.GetStream();
                var end = await server.ServeAsync(stream, stream, cancellationToken).ConfigureAwait(false);
                EndpointLog.ConnectionEnded(logger, peer, end);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The agent is stopping; the session was closed on the way out.
            }
            catch (Exception ex) when (ex is IOException or SocketException or ApiaryException)
            {
                EndpointLog.ConnectionFailed(logger, peer, ex.Message);
            }
        }
    }
}
