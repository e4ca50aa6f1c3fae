using System.Diagnostics;
using System.Net.Http.Headers;
using Apiary.Home;

namespace Apiary.Server.Tests;

public sealed class UpProcessTests
{
    [Fact]
    public async Task ApiaryUp_RealProcess_ServesThenStopsCleanlyOnSigterm()
    {
        var ct = TestContext.Current.CancellationToken;
        using var root = new TempDirectory("apiary-up");
        var home = new ApiaryHome(root["home"], root.Path);
        var start = UpProcess.StartInfo(home.Root, root.Path, "--urls", "http://127.0.0.1:0", "--allowed-host", "apiary.test");
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync(ct);
        try
        {
            // The first line is printed once the server is up and run/server.json is written.
            var first = await process.StandardOutput.ReadLineAsync(ct).AsTask().WaitAsync(TimeSpan.FromSeconds(60), ct);
            Assert.StartsWith("Apiary is up at ", first, StringComparison.Ordinal);
            var output = process.StandardOutput.ReadToEndAsync(ct);
            var info = await ServerInfo.ReadAsync(home, ct);
            Assert.NotNull(info);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(home.Root, ServerInfo.OperatorTokenPath)));
            using var http = new HttpClient { BaseAddress = new Uri(info.Url) };
            Assert.True((await http.GetAsync("/readyz", ct)).IsSuccessStatusCode);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(Path.Combine(home.Root, ServerInfo.OperatorTokenPath), ct)).Trim());
            var agents = await http.GetFromJsonAsync("/api/agents", ApiJsonContext.Default.IReadOnlyListAgentDto, ct);
            Assert.Contains(agents!, a => a.Name == "coder");

            // The host it was told to answer to is served; any other is refused.
            var port = new Uri(info.Url).Port;
            foreach (var (named, expected) in new[] { ($"apiary.test:{port}", HttpStatusCode.OK), ($"evil.example:{port}", HttpStatusCode.BadRequest) })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/api/agents");
                request.Headers.Host = named;
                using var response = await http.SendAsync(request, ct);
                Assert.Equal(expected, response.StatusCode);
            }

            // Everything 'apiary up' made in the home (the samples, the log, run/, keys/) is its owner's alone.
            OwnerOnlyTree.AssertOwnerOnly(home.Root);

            // SIGTERM, as a service manager stops it; Ctrl-C's SIGINT takes the same path (both cancel the command). SIGINT
            // cannot be the signal here: a test run started in the background inherits SIGINT ignored, and so would apiary.
            using (var signal = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await signal.WaitForExitAsync(ct);
            }

            await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);
            Assert.True(process.ExitCode == 0, $"exit {process.ExitCode}: {await error}");
            Assert.Contains("apiary: stopped", await output, StringComparison.Ordinal);
            Assert.False(File.Exists(ServerInfo.PathIn(home)));
            OwnerOnlyTree.AssertOwnerOnly(home.Root);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task ApiaryUp_AddressInUse_OneClearLine_NoStackTrace_Exit1()
    {
        var ct = TestContext.Current.CancellationToken;
        using var root = new TempDirectory("apiary-up-busy");
        using var busy = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var port = ((IPEndPoint)busy.LocalEndpoint).Port;
        var start = UpProcess.StartInfo(root["home"], root.Path, "--urls", $"http://127.0.0.1:{port}");
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(ct);
        var error = await process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct).WaitAsync(TimeSpan.FromSeconds(60), ct);

        Assert.Equal(1, process.ExitCode);
        var line = Assert.Single(error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"apiary: cannot listen on http://127.0.0.1:{port}: ", line, StringComparison.Ordinal);
        Assert.Contains("give another address with --urls", line, StringComparison.Ordinal);
        Assert.DoesNotContain("Apiary is up", await output, StringComparison.Ordinal);
    }
}
