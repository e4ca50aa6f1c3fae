using System.Diagnostics;
using System.Globalization;
using Apiary.Client;
using Apiary.Contracts;
using Apiary.Home;
using Apiary.Models;
using Apiary.Server;
using Microsoft.Extensions.AI;
using Apiary.Runtime;

namespace Apiary.Benchmarks;

/// <summary>
/// The turn loop's own cost per turn, excluding model latency: an in-process server on a temporary sample home (real
/// bubblewrap sandbox, SQLite log, sample policies) runs agent <c>coder</c> with a model that answers at once with a
/// <c>list_dir</c> call, turn after turn. A turn's overhead is the time from one model call returning to the next one
/// starting: the budget reservation and settlement, <c>model.called</c>, the proposal through governance, the listing in
/// the sandbox, <c>tool.called</c>. The bare figure is the same model driven by a plain loop that only appends the
/// messages and a fixed tool result.
/// </summary>
internal static class RunLoad
{
    private const double TargetMs = 2;
    private const int Runs = 20;
    private const int ToolTurns = 50;

    public static async Task<int> RunAsync()
    {
        var root = Directory.CreateTempSubdirectory("apiary-run-load-").FullName;
        try
        {
            var userHome = Directory.CreateDirectory(Path.Combine(root, "user")).FullName;
            var home = Path.Combine(root, "home");
            await new ApiaryHome(home, userHome).InitializeAsync();
            var model = new InstantChatClient(ToolTurns);
            await using var server = await ApiaryServer.StartAsync(new ServerOptions
            {
                Home = home,
                UserHome = userHome,
                Urls = "http://127.0.0.1:0",
                LoggerFactory = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance,
                Models = new InstantCatalog(model),
            });
            using var http = new HttpClient { BaseAddress = new Uri(server.Url), Timeout = TimeSpan.FromMinutes(5) };
            using var client = new ApiaryClient(http, server.OperatorToken);

            // Warm up: JIT, the sandbox's first start, the log's first pages.
            await RunOnceAsync(client, model);
            var looped = new List<double>();
            for (var i = 0; i < Runs; i++)
            {
                looped.AddRange(await RunOnceAsync(client, model));
            }

            Bare(model);
            var bare = new List<double>();
            for (var i = 0; i < Runs; i++)
            {
                bare.AddRange(Bare(model));
            }

            looped.Sort();
            bare.Sort();
            var p50 = Percentile(looped, 0.5);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"turn loop overhead per turn (list_dir governed, instant model), {looped.Count} turns in {Runs} runs: p50 {p50:F3} ms, p90 {Percentile(looped, 0.9):F3} ms, p99 {Percentile(looped, 0.99):F3} ms (target p50 <= {TargetMs} ms)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"bare loop (same model, no governance, no log), {bare.Count} turns: p50 {Percentile(bare, 0.5):F4} ms, p90 {Percentile(bare, 0.9):F4} ms, p99 {Percentile(bare, 0.99):F4} ms"));
            return p50 <= TargetMs ? 0 : 1;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static async Task<List<double>> RunOnceAsync(ApiaryClient client, InstantChatClient model)
    {
        model.Reset();
        var run = await client.StartRunAsync("coder", new StartRunRequest("list the workspace again and again", MaxTurns: ToolTurns + 1));
        RunProgressDto? end = null;
        var allowed = 0;
        await foreach (var step in client.StreamRunProgressAsync(run.Id))
        {
            allowed += step is { Type: "decision", Decision: "allow" } ? 1 : 0;
            end = step;
        }

        if (end is not { Status: "finished" } || allowed != ToolTurns)
        {
            throw new InvalidOperationException($"the run ended {end?.Status} ({end?.Error}) with {allowed} of {ToolTurns} tool calls allowed");
        }

        return model.Gaps();
    }

    private static List<double> Bare(InstantChatClient model)
    {
        model.Reset();
        List<ChatMessage> messages = [new(ChatRole.System, "system"), new(ChatRole.User, "task")];
        while (true)
        {
            var response = model.GetResponseAsync(messages).GetAwaiter().GetResult();
            messages.AddMessages(response);
            var calls = response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>().ToList();
            if (calls.Count == 0)
            {
                return model.Gaps();
            }

            messages.Add(new ChatMessage(ChatRole.Tool, [.. calls.Select(c => (AIContent)new FunctionResultContent(c.CallId, "README.md 12 bytes\n"))]));
        }
    }

    private static double Percentile(List<double> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    /// <summary>A model that answers at once: a <c>list_dir</c> call for the first turns, then a final answer; it times the gaps between calls.</summary>
    private sealed class InstantChatClient(int toolTurns) : IChatClient
    {
        private readonly List<(long Entry, long Exit)> _calls = [];

        public void Reset() => _calls.Clear();

        /// <summary>Milliseconds from each call's return to the next call.</summary>
        public List<double> Gaps() => [.. _calls.Skip(1).Select((c, i) => Stopwatch.GetElapsedTime(_calls[i].Exit, c.Entry).TotalMilliseconds)];

        public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
        {
            var entry = Stopwatch.GetTimestamp();
            var turn = _calls.Count;
            var message = turn < toolTurns
                ? new ChatMessage(ChatRole.Assistant, [new FunctionCallContent($"call_{turn}", "list_dir", new Dictionary<string, object?> { ["path"] = "." })])
                : new ChatMessage(ChatRole.Assistant, "done");
            var response = new ChatResponse(message) { Usage = new UsageDetails { InputTokenCount = 10, OutputTokenCount = 5 } };
            _calls.Add((entry, Stopwatch.GetTimestamp()));
            return Task.FromResult(response);
        }

        public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
            throw new NotSupportedException("the turn loop does not stream");

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }

    private sealed class InstantCatalog(InstantChatClient client) : IModelCatalog
    {
        public ModelBinding Resolve(string? modelReference) => new("instant", "model", client, null);
    }
}
