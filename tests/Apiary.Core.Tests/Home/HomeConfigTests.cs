using Apiary.Agents;
using Apiary.Home;
using Apiary.Configuration;

namespace Apiary.Tests.Home;

public sealed class HomeConfigTests
{
    private const string File = "/h/apiary.yaml";

    [Fact]
    public void Parse_DefaultsAndPrompt_Read()
    {
        var (config, diagnostics) = HomeConfig.Parse(
            "defaults:\n  model: local/m\n  budget: { commands: 3 }\nprompt:\n  section_chars: 1000\n  total_chars: 5000\n", File);
        Assert.Empty(diagnostics);
        Assert.Equal("local/m", config!.Defaults.Model);
        Assert.Equal(3, config.Defaults.Budget!.Commands);
        Assert.Equal((1000, 5000), (config.SectionChars, config.TotalChars));
    }

    [Fact]
    public void Parse_RetiredPoliciesDefault_WarnsAtItsLineAndLoads()
    {
        var (config, diagnostics) = HomeConfig.Parse("defaults:\n  model: local/m\n  policies: [shared]\n", File);

        Assert.Equal("local/m", config!.Defaults.Model);
        var warning = Assert.Single(diagnostics);
        Assert.Equal((DiagnosticSeverity.Warning, File, 3, 3), (warning.Severity, warning.File, warning.Line, warning.Column));
        Assert.Contains("field 'policies' is no longer used", warning.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("retention:\n  bodies: 30d\n", 30 * 24)]
    [InlineData("retention: { bodies: 12h }\n", 12)]
    [InlineData("retention:\n  bodies: 1d12h\n", 36)]
    public void Parse_RetentionBodies_Read(string yaml, int hours)
    {
        var (config, diagnostics) = HomeConfig.Parse(yaml, File);
        Assert.Empty(diagnostics);
        Assert.Equal(TimeSpan.FromHours(hours), config!.RetainBodies);
    }

    [Theory]
    [InlineData("defaults:\n  model: a/b\n")]
    [InlineData("retention:\n")]
    public void Parse_NoRetentionBodies_KeepsBodiesForever(string yaml)
    {
        var (config, diagnostics) = HomeConfig.Parse(yaml, File);
        Assert.Empty(diagnostics);
        Assert.Null(config!.RetainBodies);
    }

    [Theory]
    [InlineData("retention:\n  bodies:\n", "retention.bodies")]
    [InlineData("memory:\n  compact_at:\n", "memory.compact_at")]
    [InlineData("prompt:\n  section_chars:\n", "prompt.section_chars")]
    [InlineData("prompt:\n  total_chars:\n", "prompt.total_chars")]
    public void Parse_AFieldLeftEmpty_WarnsAndKeepsTheDefault(string yaml, string field)
    {
        var (config, diagnostics) = HomeConfig.Parse(yaml, File);
        Assert.Equal(HomeConfig.Empty, config);
        var warning = Assert.Single(diagnostics);
        Assert.Equal((DiagnosticSeverity.Warning, 2, 3), (warning.Severity, warning.Line, warning.Column));
        Assert.Contains($"'{field}' has no value", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownRetentionField_WarnsWithSuggestion()
    {
        var (config, diagnostics) = HomeConfig.Parse("retention:\n  bodys: 30d\n", File);
        Assert.Null(config!.RetainBodies);
        var warning = Assert.Single(diagnostics);
        Assert.Equal((DiagnosticSeverity.Warning, File, 2, 3), (warning.Severity, warning.File, warning.Line, warning.Column));
        Assert.Contains("unknown field 'retention.bodys' is ignored; did you mean 'retention.bodies'?", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_RetentionBodiesInvalid_ErrorAtValue()
    {
        var (config, diagnostics) = HomeConfig.Parse("prompt:\n  total_chars: 5000\nretention:\n  bodies: 30 days\n", File);
        Assert.Null(config);
        var error = Assert.Single(diagnostics);
        Assert.Equal((DiagnosticSeverity.Error, File, 4, 11), (error.Severity, error.File, error.Line, error.Column));
        Assert.Equal($"'retention.bodies' must be {Apiary.Text.DurationText.Expected}, and more than zero, not '30 days'", error.Message);
    }

    [Theory]
    [InlineData("memory:\n  compact_at: 8000\n", 8000)]
    [InlineData("memory: { compact_at: 20_000 }\n", 20000)]
    public void Parse_MemoryCompactAt_Read(string yaml, int chars)
    {
        var (config, diagnostics) = HomeConfig.Parse(yaml, File);
        Assert.Empty(diagnostics);
        Assert.Equal(chars, config!.MemoryCompactAt);
    }

    [Theory]
    [InlineData("defaults:\n  model: a/b\n")]
    [InlineData("memory:\n")]
    public void Parse_NoMemoryCompactAt_LeftToTheDefault(string yaml)
    {
        var (config, diagnostics) = HomeConfig.Parse(yaml, File);
        Assert.Empty(diagnostics);
        Assert.Null(config!.MemoryCompactAt);
    }

    [Fact]
    public void Parse_UnknownMemoryField_WarnsWithSuggestion()
    {
        var (config, diagnostics) = HomeConfig.Parse("memory:\n  compact_a: 8000\n", File);
        Assert.Null(config!.MemoryCompactAt);
        var warning = Assert.Single(diagnostics);
        Assert.Equal((DiagnosticSeverity.Warning, File, 2, 3), (warning.Severity, warning.File, warning.Line, warning.Column));
        Assert.Contains("unknown field 'memory.compact_a' is ignored; did you mean 'memory.compact_at'?", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_MemoryCompactAtTooSmall_ErrorAtValue()
    {
        var (config, diagnostics) = HomeConfig.Parse("prompt:\n  total_chars: 5000\nmemory:\n  compact_at: 10\n", File);
        Assert.Null(config);
        var error = Assert.Single(diagnostics);
        Assert.Equal((DiagnosticSeverity.Error, File, 4, 15), (error.Severity, error.File, error.Line, error.Column));
        Assert.Equal("'memory.compact_at' must be a whole number from 1000 to 262144, not '10'", error.Message);
    }

    [Fact]
    public void Parse_ServerAllowedHosts_Read()
    {
        var (config, diagnostics) = HomeConfig.Parse("server:\n  allowed_hosts: [Apiary.Example.org, '192.168.1.20:7171']\n", File);
        Assert.Empty(diagnostics);
        Assert.Equal(["apiary.example.org", "192.168.1.20:7171"], config!.AllowedHosts.Select(h => h.ToString()));
    }

    [Fact]
    public void Parse_NoServerSection_AllowsNoOtherHost()
    {
        var (config, diagnostics) = HomeConfig.Parse("memory:\n  compact_at: 8000\n", File);
        Assert.Empty(diagnostics);
        Assert.Empty(config!.AllowedHosts);
    }

    [Theory]
    [InlineData("server:\n  allowed_hosts:\n    - apiary.example.org\n    - '*.example.org'\n", 4, 7, "wildcard")]
    [InlineData("server:\n  allowed_hosts: apiary.example.org\n", 2, 18, "must be a list")]
    [InlineData("server:\n  allowed_hosts: [apiary.example.org:99999]\n", 2, 19, "1 to 65535")]
    public void Parse_AnInvalidAllowedHost_ErrorAtIt(string yaml, int line, int column, string says)
    {
        var (config, diagnostics) = HomeConfig.Parse(yaml, File);
        Assert.Null(config);
        var error = Assert.Single(diagnostics);
        Assert.Equal((DiagnosticSeverity.Error, File, line, column), (error.Severity, error.File, error.Line, error.Column));
        Assert.StartsWith("'server.allowed_hosts'", error.Message, StringComparison.Ordinal);
        Assert.Contains(says, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_EmptyFile_NoDefaults()
    {
        var (config, diagnostics) = HomeConfig.Parse("# nothing yet\n", File);
        Assert.Empty(diagnostics);
        Assert.Equal(HomeConfig.Empty, config);
    }

    [Fact]
    public void Parse_AgentOnlyFieldInDefaults_WarnsAndIgnores()
    {
        var (config, diagnostics) = HomeConfig.Parse("defaults:\n  workspace: /srv/x\n", File);
        Assert.Null(config!.Defaults.Workspace);
        var warning = Assert.Single(diagnostics);
        Assert.Equal((DiagnosticSeverity.Warning, 2), (warning.Severity, warning.Line));
        Assert.Contains("'workspace'", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_UnknownSection_Warns()
    {
        var (_, diagnostics) = HomeConfig.Parse("defualts:\n  model: a/b\n", File);
        Assert.Contains("did you mean 'defaults'", Assert.Single(diagnostics).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("prompt:\n  section_chars: 10\n", "at least 256")]
    [InlineData("defaults:\n  role: boss\n", "'manager' or 'worker'")]
    [InlineData("defaults: [a]\n", "mapping")]
    [InlineData("defaults:\n  model: [\n", "malformed YAML")]
    [InlineData("retention:\n  bodies: 0s\n", "more than zero")]
    [InlineData("retention:\n  bodies: 30\n", "a duration with units")]
    [InlineData("retention:\n  bodies: [30d]\n", "single value")]
    [InlineData("retention: 30d\n", "'retention' must be a mapping")]
    [InlineData("memory:\n  compact_at: 300000\n", "from 1000 to 262144")]
    [InlineData("memory:\n  compact_at: 16k\n", "a whole number")]
    [InlineData("memory: 16000\n", "'memory' must be a mapping")]
    public void Parse_Invalid_ErrorWithLine(string yaml, string messagePart)
    {
        var (config, diagnostics) = HomeConfig.Parse(yaml, File);
        Assert.Null(config);
        var error = Assert.Single(diagnostics, d => d.Severity == DiagnosticSeverity.Error);
        Assert.Contains(messagePart, error.Message, StringComparison.Ordinal);
        Assert.NotNull(error.Line);
    }

    [Fact]
    public void Parse_NoTelemetrySection_NothingExported()
    {
        var (config, diagnostics) = HomeConfig.Parse("prompt:\n  total_chars: 5000\n", File);
        Assert.Empty(diagnostics);
        Assert.False(config!.Telemetry.Exports);
        Assert.Same(TelemetrySettings.Off, config.Telemetry);
    }

    [Fact]
    public void Parse_Telemetry_Read()
    {
        var (config, diagnostics) = HomeConfig.Parse(
            "telemetry:\n  otlp_endpoint: http://collector:4318\n  protocol: http/protobuf\n  service_name: apiary-lab\n", File);
        Assert.Empty(diagnostics);
        Assert.True(config!.Telemetry.Exports);
        Assert.Equal(new Uri("http://collector:4318"), config.Telemetry.OtlpEndpoint);
        Assert.Equal(TelemetryProtocol.HttpProtobuf, config.Telemetry.Protocol);
        Assert.Equal("apiary-lab", config.Telemetry.ServiceName);
    }

    [Fact]
    public void Parse_TelemetryEndpointOnly_GrpcAndServiceNameApiary()
    {
        var (config, diagnostics) = HomeConfig.Parse("telemetry: { otlp_endpoint: 'https://otel.example.org:4317' }\n", File);
        Assert.Empty(diagnostics);
        Assert.Equal((TelemetryProtocol.Grpc, "apiary"), (config!.Telemetry.Protocol, config.Telemetry.ServiceName));
    }

    [Theory]
    [InlineData("collector:4317")]
    [InlineData("/v1/traces")]
    [InlineData("ftp://collector:4317")]
    [InlineData("http://user:secret@collector:4317")]
    public void Parse_TelemetryEndpointNotAnHttpUrl_ErrorAtValueNamingTheField(string endpoint)
    {
        var (config, diagnostics) = HomeConfig.Parse($"telemetry:\n  otlp_endpoint: '{endpoint}'\n", File);
        Assert.Null(config);
        var error = Assert.Single(diagnostics);
        Assert.Equal((DiagnosticSeverity.Error, File, 2, 18), (error.Severity, error.File, error.Line, error.Column));
        Assert.StartsWith("'telemetry.otlp_endpoint' must be an absolute http or https URL", error.Message, StringComparison.Ordinal);
        Assert.StartsWith($"{File}:2:18: error: ", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_TelemetryUnknownProtocol_Error()
    {
        var (config, diagnostics) = HomeConfig.Parse("telemetry:\n  otlp_endpoint: http://c:4317\n  protocol: http/json\n", File);
        Assert.Null(config);
        Assert.Equal("'telemetry.protocol' must be grpc or http/protobuf, not 'http/json'", Assert.Single(diagnostics).Message);
    }

    [Fact]
    public void Parse_TelemetryUnknownField_WarnsWithSuggestion()
    {
        var (config, diagnostics) = HomeConfig.Parse("telemetry:\n  otlp_endpoint: http://c:4317\n  otlp_endpiont: http://d:4317\n", File);
        Assert.True(config!.Telemetry.Exports);
        var warning = Assert.Single(diagnostics);
        Assert.Contains("unknown field 'telemetry.otlp_endpiont' is ignored; did you mean 'telemetry.otlp_endpoint'?", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_TelemetryWithoutEndpoint_WarnsThatNothingIsExported()
    {
        var (config, diagnostics) = HomeConfig.Parse("telemetry:\n  service_name: apiary-lab\n", File);
        Assert.False(config!.Telemetry.Exports);
        Assert.Contains("no 'otlp_endpoint', so nothing is exported", Assert.Single(diagnostics).Message, StringComparison.Ordinal);
    }
}
