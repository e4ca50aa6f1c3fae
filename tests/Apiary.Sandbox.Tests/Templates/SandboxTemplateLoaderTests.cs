using Apiary.Agents;
using Apiary.Sandbox.Templates;
using Apiary.Testing;
using Apiary.Configuration;

namespace Apiary.Sandbox.Tests.Templates;

public sealed class SandboxTemplateLoaderTests : IDisposable
{
    private readonly TempDirectory _dir = new("apiary-templates");

    public SandboxTemplateLoaderTests()
    {
        Directory.CreateDirectory(Templates);
    }

    public void Dispose() => _dir.Dispose();

    private string Home => _dir["home"];

    private string Templates => Path.Combine(Home, "templates");

    private SandboxTemplateLoader Loader => new(Templates, Home);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<TemplateLoadResult> LoadAsync(string yaml, string name = "t")
    {
        await File.WriteAllTextAsync(Path.Combine(Templates, name + ".yaml"), yaml, Ct);
        return await Loader.LoadAsync(name, Ct);
    }

    private static Diagnostic SingleError(TemplateLoadResult result)
    {
        Assert.False(result.IsLoaded);
        return Assert.Single(result.Errors);
    }

    // ---- Every field ----

    [Fact]
    public async Task Load_EveryField_ParsesEachValue()
    {
        var data = _dir.CreateDirectory("data");
        var tool = _dir.Write("tool.sh", "#!/bin/sh\n");
        var yaml = $$"""
            description: Everything set
            resources:
              memory_mb: 2_048
              cpus: 1.5
              pids: 64
              timeout: 90s
              output_limit: 64KiB
              cpu_time: 1h30m
              open_files: 256
              file_size_mb: 10
            egress: none
            mounts:
              - host: {{data}}
                sandbox: /data
              - host: {{tool}}
                sandbox: /opt/tool.sh
                read_only: false
            env:
              PYTHONDONTWRITEBYTECODE: "1"
              GREETING: hello world
              EMPTY: ""
            secrets:
              - API_TOKEN
              - { name: DB_PASSWORD, as: file }
              - { name: OTHER, as: env }
              - { name: PLAIN }
            """;

        var result = await LoadAsync(yaml, "everything");

        Assert.Empty(result.Diagnostics);
        var t = result.Template!;
        Assert.Equal("everything", t.Name);
        Assert.Equal("Everything set", t.Description);
        Assert.Equal(2048, t.MemoryMb);
        Assert.Equal(1.5, t.Cpus);
        Assert.Equal(64, t.Pids);
        Assert.Equal(TimeSpan.FromSeconds(90), t.Timeout);
        Assert.Equal(64 * 1024, t.OutputLimitBytes);
        Assert.Equal(TimeSpan.FromMinutes(90), t.CpuTime);
        Assert.Equal(256, t.OpenFiles);
        Assert.Equal(10, t.FileSizeMb);
        Assert.Same(EgressPolicy.None, t.Egress);
        Assert.Equal([new TemplateMount(data, "/data", ReadOnly: true), new TemplateMount(tool, "/opt/tool.sh", ReadOnly: false)], t.Mounts);
        Assert.Equal(new Dictionary<string, string> { ["PYTHONDONTWRITEBYTECODE"] = "1", ["GREETING"] = "hello world", ["EMPTY"] = "" }, t.Env);
        Assert.Equal(
            [
                new TemplateSecret("API_TOKEN"),
                new TemplateSecret("DB_PASSWORD", SecretDelivery.File),
                new TemplateSecret("OTHER", SecretDelivery.Environment),
                new TemplateSecret("PLAIN", SecretDelivery.Environment),
            ],
            t.Secrets);
    }

    [Theory]
    [InlineData("512B", 512L)]
    [InlineData("64KiB", 64L * 1024)]
    [InlineData("1MiB", 1024L * 1024)]
    [InlineData("1GiB", 1024L * 1024 * 1024)]
    [InlineData("4096", 4096L)]
    public async Task Load_OutputLimitSizes_ParsedToBytes(string size, long bytes)
    {
        var result = await LoadAsync($"resources:\n  output_limit: {size}\n");

        Assert.Empty(result.Diagnostics);
        Assert.Equal(bytes, result.Template!.OutputLimitBytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("# nothing set\n")]
    [InlineData("description: Only a description\n")]
    [InlineData("resources: {}\nmounts: []\nenv: {}\nsecrets: []\n")]
    public async Task Load_FieldsAbsent_KeepsDefaults(string yaml)
    {
        var result = await LoadAsync(yaml, "plain");

        Assert.Empty(result.Diagnostics);
        var t = result.Template!;
        var d = SandboxTemplate.Default;
        Assert.Equal("plain", t.Name);
        Assert.Equal(1024, t.MemoryMb);
        Assert.Equal(d.Cpus, t.Cpus);
        Assert.Equal(256, t.Pids);
        Assert.Equal(TimeSpan.FromMinutes(2), t.Timeout);
        Assert.Equal(1024 * 1024, t.OutputLimitBytes);
        Assert.Equal(d.CpuTime, t.CpuTime);
        Assert.Equal(d.OpenFiles, t.OpenFiles);
        Assert.Equal(d.FileSizeMb, t.FileSizeMb);
        Assert.Same(EgressPolicy.None, t.Egress);
        Assert.Empty(t.Mounts);
        Assert.Empty(t.Env);
        Assert.Empty(t.Secrets);
    }

    [Fact]
    public async Task Load_ReadOnlyAbsent_DefaultsToReadOnly()
    {
        var result = await LoadAsync($"mounts:\n  - {{ host: {_dir.CreateDirectory("data")}, sandbox: /data }}\n");

        Assert.True(Assert.Single(result.Template!.Mounts).ReadOnly);
    }

    [Fact]
    public async Task Load_SandboxPathWithExtraSlashesAndDots_IsNormalized()
    {
        var result = await LoadAsync($"mounts:\n  - {{ host: {_dir.CreateDirectory("data")}, sandbox: //data/./set/ }}\n");

        Assert.Equal("/data/set", Assert.Single(result.Template!.Mounts).SandboxPath);
    }

    [Fact]
    public async Task Load_HostPathThroughSymbolicLink_StoresResolvedPath()
    {
        var real = _dir.CreateDirectory("real");
        var link = _dir["link"];
        File.CreateSymbolicLink(link, real);

        var result = await LoadAsync($"mounts:\n  - {{ host: {link}, sandbox: /data }}\n");

        Assert.Empty(result.Diagnostics);
        Assert.Equal(real, Assert.Single(result.Template!.Mounts).HostPath);
    }

    // ---- Bad values: an error at the right line and column, naming the field ----

    [Theory]
    [InlineData("resources:\n  memory_mb: 8\n", 2, "8", "resources.memory_mb")]
    [InlineData("resources:\n  memory_mb: 2000000\n", 2, "2000000", "resources.memory_mb")]
    [InlineData("resources:\n  memory_mb: lots\n", 2, "lots", "resources.memory_mb")]
    [InlineData("resources:\n  memory_mb: 1.5\n", 2, "1.5", "resources.memory_mb")]
    [InlineData("resources:\n  cpus: 0\n", 2, "0", "resources.cpus")]
    [InlineData("resources:\n  cpus: -1\n", 2, "-1", "resources.cpus")]
    [InlineData("resources:\n  cpus: many\n", 2, "many", "resources.cpus")]
    [InlineData("resources:\n  pids: 0\n", 2, "0", "resources.pids")]
    [InlineData("resources:\n  pids: 1000001\n", 2, "1000001", "resources.pids")]
    [InlineData("resources:\n  timeout: 0s\n", 2, "0s", "resources.timeout")]
    [InlineData("resources:\n  timeout: 90\n", 2, "90", "resources.timeout")]
    [InlineData("resources:\n  timeout: 2d\n", 2, "2d", "resources.timeout")]
    [InlineData("resources:\n  output_limit: 0\n", 2, "0", "resources.output_limit")]
    [InlineData("resources:\n  output_limit: 1MB\n", 2, "1MB", "resources.output_limit")]
    [InlineData("resources:\n  output_limit: unlimited\n", 2, "unlimited", "resources.output_limit")]
    [InlineData("resources:\n  output_limit: 2GiB\n", 2, "2GiB", "resources.output_limit")]
    [InlineData("resources:\n  cpu_time: 500ms\n", 2, "500ms", "resources.cpu_time")]
    [InlineData("resources:\n  cpu_time: soon\n", 2, "soon", "resources.cpu_time")]
    [InlineData("resources:\n  open_files: 4\n", 2, "4", "resources.open_files")]
    [InlineData("resources:\n  file_size_mb: 0\n", 2, "0", "resources.file_size_mb")]
    [InlineData("resources:\n  timeout: [1m]\n", 2, "[1m]", "resources.timeout")]
    [InlineData("description: [a, b]\n", 1, "[a, b]", "description")]
    [InlineData("resources: 5\n", 1, "5", "resources")]
    [InlineData("egress: all\n", 1, "all", "egress")]
    [InlineData("egress: [pypi.org]\n", 1, "[pypi.org]", "egress")]
    [InlineData("egress:\n  allow: pypi.org\n", 2, "pypi.org", "egress.allow")]
    [InlineData("egress:\n  allow: []\n", 2, "allow", "egress.allow")]
    [InlineData("mounts: /usr\n", 1, "/usr", "mounts")]
    [InlineData("mounts:\n  - /usr\n", 2, "/usr", "mounts[0]")]
    [InlineData("mounts:\n  - host: usr\n    sandbox: /data\n", 2, "usr", "mounts[0].host")]
    [InlineData("mounts:\n  - host: ~/data\n    sandbox: /data\n", 2, "~/data", "mounts[0].host")]
    [InlineData("mounts:\n  - host: /no/such/folder/anywhere\n    sandbox: /data\n", 2, "/no/such/folder/anywhere", "mounts[0].host")]
    [InlineData("mounts:\n  - host: /usr\n    sandbox: data\n", 3, "data", "mounts[0].sandbox")]
    [InlineData("mounts:\n  - host: /usr\n    sandbox: /\n", 3, "/", "mounts[0].sandbox")]
    [InlineData("mounts:\n  - host: /usr\n    sandbox: /proc\n", 3, "/proc", "mounts[0].sandbox")]
    [InlineData("mounts:\n  - host: /usr\n    sandbox: /dev\n", 3, "/dev", "mounts[0].sandbox")]
    [InlineData("mounts:\n  - host: /usr\n    sandbox: /workspace\n", 3, "/workspace", "mounts[0].sandbox")]
    [InlineData("mounts:\n  - host: /usr\n    sandbox: /workspace/tools\n", 3, "/workspace/tools", "mounts[0].sandbox")]
    [InlineData("mounts:\n  - host: /usr\n    sandbox: //workspace/\n", 3, "//workspace/", "mounts[0].sandbox")]
    [InlineData("mounts:\n  - host: /usr\n    sandbox: /run/secrets\n", 3, "/run/secrets", "mounts[0].sandbox")]
    [InlineData("mounts:\n  - host: /usr\n    sandbox: /run/secrets/API_TOKEN\n", 3, "/run/secrets/API_TOKEN", "mounts[0].sandbox")]
    [InlineData("mounts:\n  - host: /usr\n    sandbox: /data/../workspace\n", 3, "/data/../workspace", "mounts[0].sandbox")]
    [InlineData("mounts:\n  - host: /usr\n    sandbox: /data\n    read_only: maybe\n", 4, "maybe", "mounts[0].read_only")]
    [InlineData("mounts:\n  - host: /usr\n", 2, "host", "mounts[0]")]
    [InlineData("env: [A]\n", 1, "[A]", "env")]
    [InlineData("env:\n  1BAD: x\n", 2, "1BAD", "env.1BAD")]
    [InlineData("env:\n  MY-VAR: x\n", 2, "MY-VAR", "env.MY-VAR")]
    [InlineData("env:\n  FOO: [a, b]\n", 2, "[a, b]", "env.FOO")]
    [InlineData("secrets: API_TOKEN\n", 1, "API_TOKEN", "secrets")]
    [InlineData("secrets:\n  - bad-name\n", 2, "bad-name", "secrets[0]")]
    [InlineData("secrets:\n  - { name: TOKEN, as: disk }\n", 2, "disk", "secrets[0].as")]
    [InlineData("secrets:\n  - { name: 9LIVES }\n", 2, "9LIVES", "secrets[0].name")]
    [InlineData("secrets:\n  - { as: file }\n", 2, "{", "secrets[0]")]
    [InlineData("secrets:\n  - A\n  - A\n", 3, "A", "secrets[1]")]
    public async Task Load_BadValue_ErrorAtLineAndColumnNamingField(string yaml, int line, string at, string field)
    {
        var result = await LoadAsync(yaml, "bad");

        var error = SingleError(result);
        Assert.Equal(Path.Combine(Templates, "bad.yaml"), error.File);
        Assert.Equal(line, error.Line);
        Assert.Equal(yaml.Split('\n')[line - 1].IndexOf(at, StringComparison.Ordinal) + 1, error.Column);
        Assert.Contains($"'{field}'", error.Message, StringComparison.Ordinal);
        Assert.StartsWith($"{error.File}:{line}:{error.Column}: error: ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_SeveralBadValues_ReportsEveryOne()
    {
        var result = await LoadAsync("resources:\n  memory_mb: 1\n  pids: 0\negress: some\n");

        Assert.False(result.IsLoaded);
        Assert.Equal([2, 3, 4], result.Errors.Select(e => e.Line));
    }

    [Fact]
    public async Task Load_MalformedYaml_ErrorWithLine()
    {
        var result = await LoadAsync("resources:\n  memory_mb: [1, 2\n");

        Assert.Contains("malformed YAML", SingleError(result).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_TabIndentation_ErrorPointsAtTheTab()
    {
        var error = SingleError(await LoadAsync("resources:\n\tmemory_mb: 512\n"));

        Assert.Equal((2, 1), (error.Line, error.Column));
        Assert.Contains("tab", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_RootIsAList_Error()
    {
        var error = SingleError(await LoadAsync("- egress: none\n"));

        Assert.Contains("mapping of fields", error.Message, StringComparison.Ordinal);
    }

    // ---- Unknown fields: warnings with a did-you-mean; the template still loads ----

    [Theory]
    [InlineData("resources:\n  memroy_mb: 512\n", 2, "did you mean 'resources.memory_mb'?")]
    [InlineData("descripton: x\n", 1, "did you mean 'description'?")]
    [InlineData("timeout: 2m\n", 1, "did you mean 'resources.timeout'?")]
    [InlineData("network: none\n", 1, "did you mean 'egress'?")]
    [InlineData("resources:\n  processes: 10\n", 2, "did you mean 'resources.pids'?")]
    [InlineData("secrets:\n  - { name: A, ass: file }\n", 2, "did you mean 'secrets[0].as'?")]
    public async Task Load_UnknownField_WarningWithSuggestionAndStillLoads(string yaml, int line, string hint)
    {
        var result = await LoadAsync(yaml);

        var warning = Assert.Single(result.Diagnostics);
        Assert.Equal(DiagnosticSeverity.Warning, warning.Severity);
        Assert.Equal(line, warning.Line);
        Assert.Contains("unknown field", warning.Message, StringComparison.Ordinal);
        Assert.Contains(hint, warning.Message, StringComparison.Ordinal);
        Assert.True(result.IsLoaded);
    }

    [Fact]
    public async Task Load_UnknownFieldFarFromAny_WarningListsKnownFields()
    {
        var result = await LoadAsync("colour: blue\n");

        Assert.True(result.IsLoaded);
        Assert.Contains("known fields: description, resources, egress, mounts, env, secrets", Assert.Single(result.Warnings).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_FieldWithoutValue_WarningAndDefaultKept()
    {
        var result = await LoadAsync("resources:\n  timeout:\n");

        Assert.True(result.IsLoaded);
        Assert.Equal(2, Assert.Single(result.Warnings).Line);
        Assert.Equal(TimeSpan.FromMinutes(2), result.Template!.Timeout);
    }

    // ---- Egress ----

    [Fact]
    public async Task Load_EgressNone_NoNetwork()
    {
        var result = await LoadAsync("egress: none\n");

        Assert.Same(EgressPolicy.None, result.Template!.Egress);
    }

    [Fact]
    public async Task Load_ValidAllowlist_RefusedBecauseThereIsNoProxy()
    {
        var result = await LoadAsync("egress:\n  allow: [pypi.org, '*.github.com', files.pythonhosted.org]\n");

        var error = SingleError(result);
        Assert.Equal("egress allowlists are not supported yet: the egress proxy does not exist; use egress: none", error.Message);
        Assert.Equal(2, error.Line);
    }

    [Fact]
    public async Task Load_InvalidAllowlist_DomainErrorsComeBeforeTheRefusal()
    {
        var result = await LoadAsync("egress:\n  allow:\n    - https://pypi.org\n    - pypi.org:443\n    - github.com\n");

        var errors = result.Errors.ToList();
        Assert.False(result.IsLoaded);
        Assert.Equal(3, errors.Count);
        Assert.Contains("'egress.allow[0]': 'https://pypi.org' has a scheme", errors[0].Message, StringComparison.Ordinal);
        Assert.Contains("write 'pypi.org'", errors[0].Message, StringComparison.Ordinal);
        Assert.Equal(3, errors[0].Line);
        Assert.Contains("'egress.allow[1]': 'pypi.org:443' has a port", errors[1].Message, StringComparison.Ordinal);
        Assert.Equal(4, errors[1].Line);
        Assert.Contains("not supported yet", errors[2].Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("egress:\n  allow:\n    - *.github.com\n", 3, 7)]
    [InlineData("egress:\n  allow: [pypi.org, *.github.com]\n", 2, 21)]
    public async Task Load_UnquotedWildcardDomain_ErrorSaysToQuoteIt(string yaml, int line, int column)
    {
        var error = SingleError(await LoadAsync(yaml));

        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.Contains("must be quoted", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_DuplicateEnvName_MalformedYamlAtTheSecond()
    {
        var error = SingleError(await LoadAsync("env:\n  A: 1\n  A: 2\n"));

        Assert.Equal(3, error.Line);
        Assert.Contains("Duplicate key", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("https://pypi.org", "scheme")]
    [InlineData("pypi.org:443", "port")]
    [InlineData("pypi.org/simple", "path")]
    [InlineData("10.0.0.1", "IP address")]
    [InlineData("10.0.0.1:80", "IP address")]
    [InlineData("[::1]", "IP address")]
    [InlineData("::1", "IP address")]
    [InlineData("PyPI.org", "lowercase")]
    [InlineData("*.com", "top-level domain")]
    [InlineData("localhost", "not a full domain")]
    [InlineData("a..b.com", "empty label")]
    [InlineData(".pypi.org", "empty label")]
    [InlineData("-a.example.com", "starts or ends with '-'")]
    [InlineData("foo.*.com", "leading '*.'")]
    [InlineData("*pypi.org", "leading '*.'")]
    [InlineData("pypi.org.", "ends with a dot")]
    [InlineData("under_score.example.com", "a-z, 0-9")]
    [InlineData("bücher.example", "a-z, 0-9")]
    [InlineData("py pi.org", "whitespace")]
    public void CheckDomain_Invalid_SaysWhy(string domain, string reason)
    {
        Assert.Contains(reason, TemplateParser.CheckDomain(domain), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("pypi.org")]
    [InlineData("*.github.com")]
    [InlineData("files.pythonhosted.org")]
    [InlineData("xn--bcher-kva.example")]
    [InlineData("a-b.c0.io")]
    public void CheckDomain_Valid_Null(string domain)
    {
        Assert.Null(TemplateParser.CheckDomain(domain));
    }

    // ---- Mounts: attacks on the host ----

    [Theory]
    [InlineData("/etc/shadow", "password hashes")]
    [InlineData("/etc/gshadow", "group password hashes")]
    [InlineData("/etc", "contains /etc/shadow")]
    [InlineData("/", "contains /etc/shadow")]
    [InlineData("/root", "root user's home")]
    [InlineData("/root/.ssh", "is inside /root")]
    [InlineData("/proc", "host's processes")]
    [InlineData("/proc/1", "is inside /proc")]
    [InlineData("/sys", "kernel and devices")]
    [InlineData("/dev", "host's devices")]
    [InlineData("/boot", "boot loader")]
    [InlineData("/usr/../etc/shadow", "password hashes")]
    public async Task Load_MountOfSensitiveHostPath_Refused(string host, string reason)
    {
        var error = SingleError(await LoadAsync($"mounts:\n  - host: {host}\n    sandbox: /data\n"));

        Assert.Equal(2, error.Line);
        Assert.Contains("'mounts[0].host'", error.Message, StringComparison.Ordinal);
        Assert.Contains("is refused", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_MountOfTheHome_Refused()
    {
        var error = SingleError(await LoadAsync($"mounts:\n  - {{ host: {Home}, sandbox: /data }}\n"));

        Assert.Contains("Apiary home", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_MountInsideTheHome_Refused()
    {
        var error = SingleError(await LoadAsync($"mounts:\n  - {{ host: {Templates}, sandbox: /data }}\n"));

        Assert.Contains($"is inside {Home}", error.Message, StringComparison.Ordinal);
        Assert.Contains("Apiary home", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_MountContainingTheHome_Refused()
    {
        var error = SingleError(await LoadAsync($"mounts:\n  - {{ host: {_dir.Path}, sandbox: /data }}\n"));

        Assert.Contains($"contains {Home}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_SymbolicLinkToTheHome_RefusedAsTheHome()
    {
        var link = _dir["innocent"];
        File.CreateSymbolicLink(link, Home);

        var error = SingleError(await LoadAsync($"mounts:\n  - {{ host: {link}, sandbox: /data }}\n"));

        Assert.Contains($"resolved to {Home}", error.Message, StringComparison.Ordinal);
        Assert.Contains("Apiary home", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_SymbolicLinkToShadow_Refused()
    {
        var link = _dir["passwords"];
        File.CreateSymbolicLink(link, "/etc/shadow");

        var error = SingleError(await LoadAsync($"mounts:\n  - {{ host: {link}, sandbox: /data }}\n"));

        Assert.Contains("password hashes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_TwoMountsAtOneSandboxPath_Error()
    {
        var data = _dir.CreateDirectory("data");

        var error = SingleError(await LoadAsync($"mounts:\n  - {{ host: {data}, sandbox: /data }}\n  - {{ host: /usr, sandbox: /data/ }}\n"));

        Assert.Equal(3, error.Line);
        Assert.Contains("'mounts[1]'", error.Message, StringComparison.Ordinal);
    }

    // ---- Environment and secrets ----

    [Theory]
    [InlineData("LD_PRELOAD")]
    [InlineData("LD_LIBRARY_PATH")]
    [InlineData("LD_AUDIT")]
    public async Task Load_EnvThatLoadsCode_Refused(string name)
    {
        var error = SingleError(await LoadAsync($"env:\n  PATH: /usr/bin\n  {name}: /workspace/evil.so\n"));

        Assert.Equal((3, 3), (error.Line, error.Column));
        Assert.Contains($"'env.{name}' is refused", error.Message, StringComparison.Ordinal);
        Assert.Contains("dynamic linker", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_SecretNamedLdPreloadAsEnv_Refused()
    {
        var error = SingleError(await LoadAsync("secrets:\n  - LD_PRELOAD\n"));

        Assert.Contains("dynamic linker", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_SecretNamedLdPreloadAsFile_Allowed()
    {
        var result = await LoadAsync("secrets:\n  - { name: LD_PRELOAD, as: file }\n");

        Assert.Equal([new TemplateSecret("LD_PRELOAD", SecretDelivery.File)], result.Template!.Secrets);
    }

    [Theory]
    [InlineData("env:\n  GREETING: \"hi\\u001b[2J\"\n", "control character")]
    [InlineData("env:\n  GREETING: \"hi\\0--bind\"\n", "NUL")]
    [InlineData("mounts:\n  - { host: \"/opt\\u0007x\", sandbox: /data }\n", "control character")]
    public async Task Load_ControlCharacterInAValueThatReachesAProcess_Error(string yaml, string said)
    {
        var error = SingleError(await LoadAsync(yaml));

        Assert.Contains(said, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_EnvAndEnvSecretOfOneName_Error()
    {
        var error = SingleError(await LoadAsync("secrets:\n  - API_TOKEN\nenv:\n  API_TOKEN: x\n"));

        Assert.Equal(2, error.Line);
        Assert.Contains("'env' also sets", error.Message, StringComparison.Ordinal);
    }

    // ---- Names and files ----

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData(".hidden")]
    [InlineData("a/b")]
    [InlineData("")]
    public async Task Load_InvalidName_RefusedWithoutTouchingFiles(string name)
    {
        var result = await Loader.LoadAsync(name, Ct);

        Assert.Contains("'template' must be a name", SingleError(result).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_MissingFile_ErrorNamesThePath()
    {
        var result = await Loader.LoadAsync("gpu", Ct);

        var error = SingleError(result);
        var path = Path.Combine(Templates, "gpu.yaml");
        Assert.Equal(path, error.File);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_OversizedFile_Error()
    {
        var result = await LoadAsync("# " + new string('x', SandboxTemplateLoader.MaxFileBytes) + "\n");

        Assert.Contains("at most", SingleError(result).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task List_Folder_EachTemplateWithItsStatus()
    {
        _dir.Write("home/templates/zeta.yaml", "egress: none\n");
        _dir.Write("home/templates/alpha.yaml", "resources:\n  pids: 0\n");
        _dir.Write("home/templates/bad name.yaml", "egress: none\n");
        _dir.Write("home/templates/old.yml", "egress: none\n");
        _dir.Write("home/templates/README.md", "notes");

        var listing = await Loader.ListAsync(Ct);

        Assert.Equal(["alpha", "zeta"], listing.Templates.Select(t => t.Name));
        Assert.False(listing.Templates[0].IsLoaded);
        Assert.True(listing.Templates[1].IsLoaded);
        Assert.Equal(2, listing.Diagnostics.Count);
        Assert.All(listing.Diagnostics, d => Assert.Equal(DiagnosticSeverity.Warning, d.Severity));
        Assert.Contains(listing.Diagnostics, d => d.Message.Contains("rename it to old.yaml", StringComparison.Ordinal));
        Assert.Contains(listing.Diagnostics, d => d.File == Path.Combine(Templates, "bad name.yaml"));
    }

    [Fact]
    public async Task List_NoFolder_Error()
    {
        Directory.Delete(Templates);

        var listing = await Loader.ListAsync(Ct);

        Assert.Empty(listing.Templates);
        Assert.Contains("apiary init", Assert.Single(listing.Diagnostics).Message, StringComparison.Ordinal);
    }

    // ---- The templates every home ships ----

    [Theory]
    [InlineData("default")]
    [InlineData("python")]
    [InlineData("debug")]
    public async Task Load_ShippedSample_NoDiagnostics(string name)
    {
        var loader = new SandboxTemplateLoader(SamplesTemplates(), Home);

        var result = await loader.LoadAsync(name, Ct);

        Assert.Empty(result.Diagnostics);
        Assert.Equal(name, result.Template!.Name);
        Assert.Same(EgressPolicy.None, result.Template.Egress);
        Assert.False(string.IsNullOrEmpty(result.Template.Description));
    }

    [Fact]
    public async Task Load_ShippedDefault_MatchesBuiltInDefaults()
    {
        var result = await new SandboxTemplateLoader(SamplesTemplates(), Home).LoadAsync("default", Ct);

        var t = result.Template!;
        var d = SandboxTemplate.Default;
        Assert.Equal(
            (d.MemoryMb, d.Cpus, d.Pids, d.Timeout, d.OutputLimitBytes, d.CpuTime, d.OpenFiles, d.FileSizeMb, d.Egress),
            (t.MemoryMb, t.Cpus, t.Pids, t.Timeout, t.OutputLimitBytes, t.CpuTime, t.OpenFiles, t.FileSizeMb, t.Egress));
        Assert.Empty(t.Mounts);
        Assert.Empty(t.Env);
        Assert.Empty(t.Secrets);
    }

    [Fact]
    public async Task List_ShippedSamples_AllLoad()
    {
        var listing = await new SandboxTemplateLoader(SamplesTemplates(), Home).ListAsync(Ct);

        Assert.Empty(listing.Diagnostics);
        Assert.Equal(["debug", "default", "python"], listing.Templates.Select(t => t.Name));
        Assert.All(listing.Templates, t => Assert.Empty(t.Diagnostics));
    }

    private static string SamplesTemplates()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Apiary.slnx")))
            {
                return Path.Combine(dir.FullName, "samples", "home", "templates");
            }
        }

        throw new InvalidOperationException($"no Apiary.slnx above {AppContext.BaseDirectory}");
    }
}
