using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Apiary.Agents;
using Apiary.Client;
using Apiary.Contracts;
using Apiary.Home;
using Apiary.Server;
using Apiary.Runtime;

namespace Apiary.Benchmarks;

/// <summary>
/// Issue 6's messaging target: 100 agents exchanging 10,000 messages through a server in this process over loopback
/// HTTP, real SQLite store, every send a governed <c>send_message</c> proposal checked against the sender's allowed
/// recipients. Each agent has a session and runs a sender (100 messages, one after another, alternating between the
/// next two agents, one thread per pair) and a receiver (long-polling its inbox, acknowledging what it read) at the same
/// time. Reports throughput (messages sent and received per second, wall clock from the first send to the last
/// acknowledgement), send latency and send-to-receive latency, and checks that none is lost and each thread is in order.
/// </summary>
internal static class MessagingLoad
{
    private const int Agents = 100;
    private const int PerAgent = 100;

    public static async Task<int> RunAsync()
    {
        var root = Directory.CreateTempSubdirectory("apiary-messaging-load-").FullName;
        try
        {
            var userHome = Directory.CreateDirectory(Path.Combine(root, "user")).FullName;
            var home = new ApiaryHome(Path.Combine(root, "home"), userHome);
            await home.InitializeAsync();
            await File.WriteAllTextAsync(Path.Combine(home.PoliciesDirectory, "messaging.yaml"), """
                rules:
                  - name: workers-message
                    priority: 40
                    match: { kind: send_message, role: worker }
                    risk: low
                    tier: allow
                """);
            var (config, _) = await HomeConfig.LoadAsync(home);
            var catalog = new AgentCatalog(home, config!);
            var names = Enumerable.Range(0, Agents).Select(Name).ToArray();
            for (var i = 0; i < Agents; i++)
            {
                var entry = await catalog.CreateAsync(AgentName.Parse(names[i]), AgentRole.Worker);
                var file = Path.Combine(entry.Directory, "AGENTS.md");
                var text = await File.ReadAllTextAsync(file);
                await File.WriteAllTextAsync(file, text.Replace("# allowed_recipients: [operator]", $"allowed_recipients: [{Name((i + 1) % Agents)}, {Name((i + 2) % Agents)}]", StringComparison.Ordinal));
            }

            await using var server = await ApiaryServer.StartAsync(new ServerOptions { Home = home.Root, Urls = "http://127.0.0.1:0", UserHome = userHome });
            using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1000 }) { BaseAddress = new Uri(server.Url.TrimEnd('/') + "/"), Timeout = Timeout.InfiniteTimeSpan };
            using var operatorClient = new ApiaryClient(http, server.OperatorToken);
            var clients = new ApiaryClient[Agents];
            for (var i = 0; i < Agents; i++)
            {
                var opened = await operatorClient.OpenSessionAsync(new OpenSessionRequest(names[i]));
                clients[i] = operatorClient.WithToken(opened.Token);
            }

            var sendLatencies = new ConcurrentBag<double>();
            var deliveryLatencies = new ConcurrentBag<double>();
            var failures = new ConcurrentBag<string>();
            var received = new ConcurrentDictionary<string, List<MessageDto>>(StringComparer.Ordinal);
            var clock = Stopwatch.StartNew();
            var senders = Enumerable.Range(0, Agents).Select(i => Task.Run(async () =>
            {
                for (var k = 0; k < PerAgent; k++)
                {
                    var to = Name((i + 1 + (k % 2)) % Agents);
                    var started = Stopwatch.GetTimestamp();
                    var body = string.Create(CultureInfo.InvariantCulture, $"{k} {started}");
                    var sent = await clients[i].SendMessageAsync(new SendMessageRequest(to, body, $"{names[i]}>{to}"));
                    sendLatencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    if (sent.Status != "sent")
                    {
                        failures.Add($"{names[i]}>{to}: {sent.Status}");
                    }
                }
            })).ToList();
            var receivers = Enumerable.Range(0, Agents).Select(i => Task.Run(async () =>
            {
                var mine = new List<MessageDto>(PerAgent);
                while (mine.Count < PerAgent)
                {
                    var inbox = await clients[i].ReadInboxAsync(names[i], waitSeconds: 30, max: 1000);
                    if (inbox.Messages.Count == 0)
                    {
                        failures.Add($"{names[i]}: nothing arrived within 30 s with {mine.Count} received");
                        break;
                    }

                    var now = Stopwatch.GetTimestamp();
                    foreach (var m in inbox.Messages)
                    {
                        deliveryLatencies.Add(Stopwatch.GetElapsedTime(long.Parse(m.Body!.Split(' ')[1], CultureInfo.InvariantCulture), now).TotalMilliseconds);
                    }

                    mine.AddRange(inbox.Messages);
                    await clients[i].AckInboxAsync(names[i], inbox.Messages[^1].Seq);
                }

                received[names[i]] = mine;
            })).ToList();
            await Task.WhenAll(senders.Concat(receivers));
            var elapsed = clock.Elapsed;

            var total = received.Values.Sum(l => l.Count);
            var distinct = received.Values.SelectMany(l => l).Select(m => m.Id).Distinct(StringComparer.Ordinal).Count();
            // Each thread is one sender's messages to one recipient: every other k, so strictly increasing and 50 long.
            var outOfOrder = received.Values.SelectMany(l => l.GroupBy(m => m.Thread))
                .Select(t => t.Select(m => int.Parse(m.Body!.Split(' ')[0], CultureInfo.InvariantCulture)).ToList())
                .Count(ks => ks.Count != PerAgent / 2 || ks.Zip(ks.Skip(1)).Any(p => p.First >= p.Second));
            var sendSorted = sendLatencies.Order().ToArray();
            var deliverySorted = deliveryLatencies.Order().ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"messaging: {Agents} agents, {Agents * PerAgent} messages, {elapsed.TotalSeconds:0.00} s from first send to last acknowledgement"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  throughput: {Agents * PerAgent / elapsed.TotalSeconds:0} messages/s sent and received (each a governed proposal, an inbox append and its completion; reads and acks on top)"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  send latency (POST /api/messages): p50 {Percentile(sendSorted, 0.50):0.0} ms, p99 {Percentile(sendSorted, 0.99):0.0} ms"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  send-to-receive latency (long-polling recipient): p50 {Percentile(deliverySorted, 0.50):0.0} ms, p99 {Percentile(deliverySorted, 0.99):0.0} ms"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  received {total}, distinct {distinct}, threads out of order {outOfOrder}, failures {failures.Count}"));
            foreach (var failure in failures.Take(10))
            {
                Console.WriteLine("    " + failure);
            }

            foreach (var client in clients)
            {
                client.Dispose();
            }

            var ok = total == Agents * PerAgent && distinct == total && outOfOrder == 0 && failures.IsEmpty;
            Console.WriteLine(ok ? "  none lost, order kept per thread: met" : "  NOT MET");
            return ok ? 0 : 1;
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string Name(int i) => "a" + i.ToString("D3", CultureInfo.InvariantCulture);

    private static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
}
