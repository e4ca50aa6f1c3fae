using System.Text;
using Apiary.Secrets;

namespace Apiary.Server.Tests;

/// <summary>
/// Secrets attacked as an agent would: printed in the encodings one standard tool gives, written to a file and read
/// back, passed in the clear, asked for without the template declaring them. The value must reach neither the agent
/// (in any form the scrubber knows) nor the event log (in any form at all that the redaction knows).
/// </summary>
public sealed class SecretAttackTests
{
    private const string Value = "tok-Sup3r/Secret+Value=991";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<TestServer> StartAsync() => TestServer.StartAsync(prepare: async home =>
    {
        await new FileSecretStore(new Home.ApiaryHome(home, Path.GetDirectoryName(home)!)).SetAsync("API_TOKEN", Value, Ct);
        await File.WriteAllTextAsync(Path.Combine(home, "templates", "keyed.yaml"), "secrets: [API_TOKEN]\n", Ct);
        await File.WriteAllTextAsync(Path.Combine(home, "policies", "python.yaml"), """
            rules:
              - name: test-python
                priority: 200
                match: { kind: exec, command: [python3, echo] }
                risk: low
                tier: allow
            """, Ct);
    });

    [Fact]
    public async Task Attack_PrintTheSecretInCommonEncodings_EachScrubbed()
    {
        await using var t = await StartAsync();
        var session = await OpenKeyedAsync(t);

        var printed = await t.ProposeAsync(session, new ProposalRequest("exec", Command: "python3", Secrets: ["API_TOKEN"], Args: ["-c", """
            import os, base64, binascii, urllib.parse
            v = os.environ['API_TOKEN'].encode()
            print(v.decode())
            print(base64.b64encode(v).decode())
            print(base64.urlsafe_b64encode(v).decode())
            print(base64.b64encode(b'x' + v).decode())
            print(base64.b64encode(b'xy' + v).decode())
            print(binascii.hexlify(v).decode())
            print(binascii.hexlify(v).decode().upper())
            print(urllib.parse.quote(v.decode(), safe=''))
            print(v.decode()[::-1])
            """]));

        Assert.Equal("completed", printed.Status);
        var lines = printed.Result!.Stdout!.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(9, lines.Length);
        Assert.All(lines, line => Assert.Contains("[secret:API_TOKEN]", line, StringComparison.Ordinal));
        AssertNoForm(printed.Result.Stdout!);
        await AssertLogHoldsNoFormAsync(t);
    }

    [Fact]
    public async Task Attack_WriteTheSecretToAFileThenReadIt_ReadFileResultScrubbed()
    {
        await using var t = await StartAsync();
        var session = await OpenKeyedAsync(t);

        var wrote = await t.ProposeAsync(session, new ProposalRequest("exec", Command: "python3", Secrets: ["API_TOKEN"], Args: ["-c", "import os\nopen('stash.txt','w').write(os.environ['API_TOKEN'])"]));
        var read = await t.ProposeAsync(session, new ProposalRequest("read_file", Path: "stash.txt"));

        Assert.Equal(0, wrote.Result!.ExitCode);
        Assert.Equal("[secret:API_TOKEN]", read.Result!.Content);
        await AssertLogHoldsNoFormAsync(t);
    }

    [Fact]
    public async Task Attack_SecretValueInTheClear_DeniedAndRecordedByName()
    {
        await using var t = await StartAsync();
        var session = (await t.OpenSessionAsync()).Session.Id;

        var inArgs = await t.ProposeAsync(session, new ProposalRequest("exec", Command: "echo", Args: [Value]));
        var inEnv = await t.ProposeAsync(session, new ProposalRequest("exec", Command: "echo", Env: new Dictionary<string, string> { ["X"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(Value)) }));
        var inStdin = await t.ProposeAsync(session, new ProposalRequest("exec", Command: "python3", Args: ["-c", "print(1)"], Stdin: "token: " + Value));

        foreach (var denied in new[] { inArgs, inEnv, inStdin })
        {
            Assert.Equal("denied", denied.Status);
            Assert.Contains("contains the value of secret API_TOKEN", denied.Decision.Reason, StringComparison.Ordinal);
        }

        var explain = await t.Http.GetStringAsync($"/api/proposals/{inArgs.Id}/explain", Ct);
        Assert.Contains("[secret:API_TOKEN]", explain, StringComparison.Ordinal);
        await AssertLogHoldsNoFormAsync(t);
    }

    private static async Task<string> OpenKeyedAsync(TestServer t) =>
        (await t.Http.OpenSessionAsync(new OpenSessionRequest("coder", Template: "keyed"))).Session.Id;

    private static void AssertNoForm(string text)
    {
        foreach (var form in SecretForms.Of(Value))
        {
            Assert.DoesNotContain(form, text, StringComparison.Ordinal);
        }
    }

    /// <summary>The whole log, every event's data and body, as bytes on disk: the database and its write-ahead log.</summary>
    private static async Task AssertLogHoldsNoFormAsync(TestServer t)
    {
        foreach (var file in Directory.GetFiles(t.Home, "events.db*"))
        {
            AssertNoForm(Encoding.Latin1.GetString(await File.ReadAllBytesAsync(file, Ct)));
        }
    }
}
