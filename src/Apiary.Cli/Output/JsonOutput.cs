using System.Text.Json;
using System.Text.Json.Serialization;
using Apiary.Agents;
using Apiary.Cli.Commands;
using Apiary.Governance.Pipeline;
using Apiary.Configuration;

namespace Apiary.Cli.Output;

/// <summary>What <c>--json</c> prints. Field names are snake_case, like the frontmatter they describe.</summary>
internal static class JsonOutput
{
    public static async Task WriteAsync<T>(TextWriter writer, T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type)
    {
        await writer.WriteLineAsync(JsonSerializer.Serialize(value, type)).ConfigureAwait(false);
    }

    public static DiagnosticJson ToJson(Diagnostic d) =>
        new(d.Severity == DiagnosticSeverity.Error ? "error" : "warning", d.Message, d.File, d.Line, d.Column);

    public static string Text(SettingSource source) => source switch
    {
        SettingSource.CommandLine => "command_line",
        SettingSource.Frontmatter => "frontmatter",
        SettingSource.HomeConfig => "home_config",
        _ => "default",
    };

    public static string Text(AgentRole role) => role == AgentRole.Manager ? "manager" : "worker";
}

internal sealed record DiagnosticJson(string Severity, string Message, string? File, int? Line, int? Column);

internal sealed record InitJson(string Home, IReadOnlyList<string> Created, IReadOnlyList<string> Kept);

internal sealed record AgentSummaryJson(
    string Name,
    string Directory,
    string Status,
    string? Description,
    string? Role,
    string? Model,
    string? ToolProfile,
    string? Template,
    IReadOnlyList<string> Files,
    IReadOnlyList<DiagnosticJson> Diagnostics,
    string? State = null,
    AgentFailureJson? LastFailure = null);

/// <summary>An agent's last run that did not finish: how it ended, why, and whether the supervisor restarts it.</summary>
internal sealed record AgentFailureJson(string Run, string Session, string Status, string Reason, DateTimeOffset At, bool Crashed, string Restart);

internal sealed record AgentListJson(string Home, IReadOnlyList<AgentSummaryJson> Agents, IReadOnlyList<DiagnosticJson> Diagnostics);

internal sealed record SettingJson<T>(T Value, string Source);

internal sealed record FileJson(string Name, bool Exists, long Bytes);

internal sealed record WorkspaceJson(string Path, bool IsDefault, bool Exists, string Source);

internal sealed record BudgetJson(
    SettingJson<int> Commands,
    SettingJson<string> WallTime,
    SettingJson<long> Tokens,
    SettingJson<decimal> CostUsd);

internal sealed record BootstrapJson(bool Consumed, string? SessionId, DateTimeOffset? CompletedAt);

internal sealed record AgentDetailJson(
    string Name,
    string Directory,
    string Status,
    string? Description,
    SettingJson<string> Role,
    SettingJson<string?> Model,
    SettingJson<string> ToolProfile,
    SettingJson<string> Template,
    WorkspaceJson Workspace,
    SettingJson<IReadOnlyList<string>> AllowedRecipients,
    BudgetJson Budget,
    BootstrapJson Bootstrap,
    IReadOnlyList<FileJson> Files,
    IReadOnlyList<DiagnosticJson> Diagnostics);

internal sealed record SectionJson(string File, string Status, int OriginalChars, int IncludedChars, string? Reason);

internal sealed record PromptJson(string Agent, string Prompt, int Chars, int SectionChars, int TotalChars, int TotalOmittedChars, IReadOnlyList<SectionJson> Sections, IReadOnlyList<DiagnosticJson> Diagnostics);

internal sealed record SecretJson(string Name);

/// <summary>What <c>apiary secrets list --json</c> prints: names only; by construction there is no field for a value.</summary>
internal sealed record SecretListJson(string Home, IReadOnlyList<SecretJson> Secrets);

internal sealed record CheckJson(string Name, string Status, string Detail, string? Meaning, string? Fix);

internal sealed record DoctorJson(string Home, bool HomeExists, bool SandboxUsable, IReadOnlyList<CheckJson> Checks);

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(InitJson))]
[JsonSerializable(typeof(AgentListJson))]
[JsonSerializable(typeof(AgentDetailJson))]
[JsonSerializable(typeof(PromptJson))]
[JsonSerializable(typeof(DoctorJson))]
[JsonSerializable(typeof(SecretListJson))]
[JsonSerializable(typeof(AuditVerifyJson))]
[JsonSerializable(typeof(AuditPurgeJson))]
[JsonSerializable(typeof(DecisionRecord))]
[JsonSerializable(typeof(PolicyTestJson))]
[JsonSerializable(typeof(PolicyCheckJson))]
[JsonSerializable(typeof(TicketListJson))]
[JsonSerializable(typeof(KillStatusJson))]
internal sealed partial class CliJsonContext : JsonSerializerContext;
