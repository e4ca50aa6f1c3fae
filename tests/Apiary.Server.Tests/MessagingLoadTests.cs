using System.Collections.Concurrent;
using System.Globalization;
using Apiary.Home;

namespace Apiary.Server.Tests;

/// <summary>
/// 100 agents send 10,000 messages through the runtime in process, over a real SQLite store: none is lost, each
/// thread keeps its order, and what is not acknowledged is delivered again after a restart.
/// </summary>
public sealed class MessagingLoadTests
{
    private const int Agents = 100;
    private const int PerAgent = 100;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Send_100AgentsSend10000Messages_NoneLostOrderKeptPerThreadRedeliveredAfterRestartUntilAcked()
    {
        using var root = new TempDirectory("apiary-messaging-load");
        var names = Enumerable.Range(0, Agents).Select(i => Name(i)).ToArray();

        // Each agent may reach the next two: every inbox receives from two senders at once.
        await MessagingHome.CreateAsync(root["home"], root.Path, Ct, [.. names.Select((n, i) => (n, (string[]?)[Name((i + 1) % Agents), Name((i + 2) % Agents)]))]);
        var home = new ApiaryHome(root["home"], root.Path);
        var options = new RuntimeOptions();

        var runtime = await ApiaryRuntime.OpenAsync(home, options, TimeProvider.System, Ct);
        try
        {
            var refused = new ConcurrentBag<string>();
            await Task.WhenAll(names.Select((name, i) => Task.Run(async () =>
            {
                var session = runtime.Sessions.Find((await runtime.OpenSessionAsync(new OpenSessionRequest(name), "test", Ct)).Session.Id)!;
                var sender = MessageSender.Of(session);
                for (var k = 0; k < PerAgent; k++)
                {
                    var to = Name((i + 1 + (k % 2)) % Agents);
                    var outcome = await runtime.Messaging.SendAsync(sender, new SendMessageRequest(to, k.ToString(CultureInfo.InvariantCulture), $"{name}>{to}"), Ct);
                    if (outcome.Status != SendOutcome.Sent)
                    {
                        refused.Add($"{name}>{to}: {outcome.Status} {outcome.Reason}");
                    }
                }
            }, Ct)));
            Assert.Empty(refused);
            await AssertInboxesAsync(runtime, names, after: 0);
        }
        finally
        {
            await runtime.DisposeAsync();
        }

        // Nothing acknowledged: a new server delivers everything again, then half is acknowledged.
        runtime = await ApiaryRuntime.OpenAsync(home, options, TimeProvider.System, Ct);
        try
        {
            await AssertInboxesAsync(runtime, names, after: 0);
            foreach (var name in names)
            {
                Assert.Equal(60, await runtime.Messaging.Broker.AckAsync(name, 60, "test", Ct));
            }
        }
        finally
        {
            await runtime.DisposeAsync();
        }

        runtime = await ApiaryRuntime.OpenAsync(home, options, TimeProvider.System, Ct);
        try
        {
            await AssertInboxesAsync(runtime, names, after: 60);
        }
        finally
        {
            await runtime.DisposeAsync();
        }
    }

    private static string Name(int i) => "a" + i.ToString("D3", CultureInfo.InvariantCulture);

    /// <summary>Every inbox holds, after its cursor, the rest of its 100 messages: per thread in the order they were sent.</summary>
    private static async Task AssertInboxesAsync(ApiaryRuntime runtime, string[] names, long after)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var inbox = await runtime.Messaging.Broker.ReadAsync(name, null, TimeSpan.Zero, 1000, Ct);
            Assert.Equal(after, inbox.Cursor);
            Assert.Equal(Enumerable.Range((int)after + 1, PerAgent - (int)after).Select(n => (long)n), inbox.Messages.Select(m => m.Seq));
            Assert.All(inbox.Messages, m => Assert.Equal(("agent", name), (m.Role, m.To)));
            foreach (var thread in inbox.Messages.GroupBy(m => m.Thread))
            {
                var sent = thread.Select(m => int.Parse(m.Body!, CultureInfo.InvariantCulture)).ToList();
                Assert.Equal(sent.Order(), sent);
                Assert.StartsWith(thread.First().From + ">", thread.Key, StringComparison.Ordinal);
            }

            if (after == 0)
            {
                Assert.Equal(2, inbox.Messages.GroupBy(m => m.Thread).Count());
                Assert.All(inbox.Messages.GroupBy(m => m.Thread), t => Assert.Equal(PerAgent / 2, t.Count()));
            }

            ids.UnionWith(inbox.Messages.Select(m => m.Id));
        }

        Assert.Equal(names.Length * (PerAgent - (int)after), ids.Count);
    }
}
