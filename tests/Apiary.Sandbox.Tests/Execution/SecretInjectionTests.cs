using Apiary.Protocol;
using Apiary.Sandbox.Templates;
using Apiary.Secrets;
using Apiary.Testing;

namespace Apiary.Sandbox.Tests.Execution;

/// <summary>Secrets reach one command as an environment variable or a 0400 file, and never its recorded output.</summary>
public sealed class SecretInjectionTests(BubblewrapFixture fixture) : IClassFixture<BubblewrapFixture>, IDisposable
{
    private const string Value = "s3cr3t-Value-42";
    private readonly TempDirectory _workspace = new("apiary-ws");

    public void Dispose() => _workspace.Dispose();

    private sealed class MemoryStore : ISecretStore
    {
        public Dictionary<string, string> Values { get; } = new() { ["API_TOKEN"] = Value, ["DB_PASSWORD"] = "hunter2-hunter2" };

        public Task<string?> GetAsync(string name, CancellationToken cancellationToken = default) => Task.FromResult(Values.GetValueOrDefault(name));

        public Task SetAsync(string name, string value, CancellationToken cancellationToken = default) => Task.CompletedTask;

        public Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken = default) => Task.FromResult<IReadOnlyList<string>>([.. Values.Keys]);

        public Task<bool> RemoveAsync(string name, CancellationToken cancellationToken = default) => Task.FromResult(false);
    }

    // The template declares the secrets its commands may ask for; each command still names the ones it gets.
    private static readonly SandboxTemplate Declaring = SandboxTemplate.Default with
    {
        Secrets = [new TemplateSecret("API_TOKEN"), new TemplateSecret("NOPE")],
    };

    private Task<ISandboxSession> Open(SandboxTemplate? template = null) =>
        fixture.Backend.OpenSessionAsync(SessionExtensions.Options(_workspace, template ?? Declaring) with { Secrets = new MemoryStore() }, TestContext.Current.CancellationToken);

    [Fact]
    public async Task EnvSecret_UsableButScrubbedFromOutput()
    {
        await using var session = await Open();
        var outcome = await session.RunAsync(new ExecCommand
        {
            RequestId = SessionExtensions.NextId(),
            Command = "/bin/sh",
            Args = ["-c", "echo token=$API_TOKEN; echo $API_TOKEN >&2; [ \"$API_TOKEN\" = '" + Value + "' ] && echo matches"],
            Secrets = ["API_TOKEN"],
        });

        Assert.Contains("token=[secret:API_TOKEN]", outcome.Stdout, StringComparison.Ordinal);
        Assert.Contains("[secret:API_TOKEN]", outcome.Stderr, StringComparison.Ordinal);
        Assert.Contains("matches", outcome.Stdout, StringComparison.Ordinal);
        Assert.All(outcome.Observations.OfType<OutputObservation>(), o =>
            Assert.DoesNotContain(Value, System.Text.Encoding.UTF8.GetString(o.Data), StringComparison.Ordinal));
    }

    [Fact]
    public async Task SecretSplitAcrossChunks_StillScrubbed()
    {
        await using var session = await Open();

        // Printed a byte at a time, so the value arrives in many small reads.
        var outcome = await session.RunAsync(new ExecCommand
        {
            RequestId = SessionExtensions.NextId(),
            Command = "python3",
            Args = ["-c", "import os,sys,time\nfor c in os.environ['API_TOKEN']:\n sys.stdout.write(c); sys.stdout.flush(); time.sleep(0.005)\nprint()"],
            Secrets = ["API_TOKEN"],
        });

        // How the pipe groups the bytes depends on timing; SecretScrubberTests covers every split deterministically.
        Assert.Equal("[secret:API_TOKEN]\n", outcome.Stdout);
    }

    [Fact]
    public async Task FileSecret_Mode0400OnTmpfsNeverInWorkspace()
    {
        var template = SandboxTemplate.Default with { Secrets = [new TemplateSecret("DB_PASSWORD", SecretDelivery.File)] };
        await using var session = await Open(template);
        var outcome = await session.RunAsync(new ExecCommand
        {
            RequestId = SessionExtensions.NextId(),
            Command = "/bin/sh",
            Args = ["-c", "stat -c '%a' /run/secrets/DB_PASSWORD; grep -c hunter2 /run/secrets/DB_PASSWORD; awk '$2==\"/run/secrets\"{print $3}' /proc/self/mounts; env | grep -c DB_PASSWORD"],
            Secrets = ["DB_PASSWORD"],
        });

        var lines = outcome.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("400", lines[0]);
        Assert.Equal("1", lines[1]);
        Assert.True(lines.Length > 2 && lines[2] == "tmpfs", outcome.ToString());
        Assert.Equal("0", lines[3]);
        Assert.Empty(Directory.EnumerateFileSystemEntries(_workspace.Path, "*", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task UnknownSecret_RefusedBeforeRunning()
    {
        await using var session = await Open();
        var outcome = await session.RunAsync(new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "true", Secrets = ["NOPE"] });
        Assert.Equal("unknown_secret", outcome.Error?.Code);
        Assert.Null(outcome.Complete);
    }

    [Fact]
    public async Task Attack_SecretTheTemplateDoesNotDeclare_Refused()
    {
        await using var session = await Open(SandboxTemplate.Default);
        var outcome = await session.RunAsync(new ExecCommand { RequestId = SessionExtensions.NextId(), Command = "printenv", Args = ["API_TOKEN"], Secrets = ["API_TOKEN"] });
        Assert.Equal("undeclared_secret", outcome.Error?.Code);
        Assert.Null(outcome.Complete);
    }

    [Fact]
    public async Task DeclaredSecret_NotGivenToACommandThatDoesNotNameIt()
    {
        await using var session = await Open();
        var outcome = await session.ShAsync("printenv API_TOKEN; echo exit=$?");
        Assert.Equal("exit=1\n", outcome.Stdout);
    }

    [Fact]
    public async Task SecretValue_NeverOnAnyCommandLine()
    {
        await using var session = await Open();
        var outcome = await session.RunAsync(new ExecCommand
        {
            RequestId = SessionExtensions.NextId(),
            Command = "/bin/sh",
            Args = ["-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"],
            Secrets = ["API_TOKEN"],
        });
        Assert.DoesNotContain("[secret:API_TOKEN]", outcome.Stdout, StringComparison.Ordinal);
    }
}
