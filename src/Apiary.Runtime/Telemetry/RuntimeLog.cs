using Microsoft.Extensions.Logging;

namespace Apiary.Runtime.Telemetry;

/// <summary>
/// What the runtime logs, as <c>[LoggerMessage]</c> methods with stable event ids (5000-5999 are this assembly's).
/// Loggers come from <see cref="RuntimeOptions.LoggerFactory"/>; prompts, tool arguments and outputs are logged only at
/// <see cref="LogLevel.Trace"/>, and secrets never.
/// </summary>
internal static partial class RuntimeLog
{
    /// <summary>The home's <c>models.yaml</c> cannot be used: runs are refused with <paramref name="problem"/> until it is fixed.</summary>
    [LoggerMessage(EventId = 5001, EventName = "ModelsUnavailable", Level = LogLevel.Warning,
        Message = "models.yaml cannot be used, so agent runs are refused until it is fixed (the server reloads it when it changes): {Problem}")]
    public static partial void ModelsUnavailable(ILogger logger, string problem);

    /// <summary>The operator accepted a damaged event log (<c>--accept-damaged-log</c>); the acceptance is recorded as <paramref name="eventType"/>.</summary>
    [LoggerMessage(EventId = 5002, EventName = "DamagedLogAccepted", Level = LogLevel.Warning,
        Message = "accepted the damaged event log {StorePath} as it is ({ProblemCount} problem(s), recorded as {EventType}); signing a new checkpoint")]
    public static partial void DamagedLogAccepted(ILogger logger, string storePath, int problemCount, string eventType);

    /// <summary>What the audit checkpointer warns about (<c>AuditCheckpointer.Warn</c>): a checkpoint not written, checkpoints stopped, the log damaged while running.</summary>
    [LoggerMessage(EventId = 5003, EventName = "AuditCheckpointTrouble", Level = LogLevel.Warning, Message = "{Problem}")]
    public static partial void AuditCheckpointTrouble(ILogger logger, string problem);

    /// <summary>The supervisor could not handle one change (a record that fails, an agent that cannot load); supervision goes on.</summary>
    [LoggerMessage(EventId = 5004, EventName = "SupervisorChangeFailed", Level = LogLevel.Warning, Message = "the supervisor could not handle a change: {Reason}")]
    public static partial void SupervisorChangeFailed(ILogger logger, string reason, Exception exception);

    /// <summary>The supervisor's watcher of agents' files failed.</summary>
    [LoggerMessage(EventId = 5005, EventName = "SupervisorWatchStopped", Level = LogLevel.Warning,
        Message = "the supervisor stopped noticing changes of agents' files: {Reason}")]
    public static partial void SupervisorWatchStopped(ILogger logger, string reason);

    /// <summary>The supervisor cannot watch the agents' folder at all.</summary>
    [LoggerMessage(EventId = 5006, EventName = "SupervisorCannotWatch", Level = LogLevel.Warning,
        Message = "the supervisor cannot watch {Directory} ({Reason}); agents are not shown needs-update when their files change")]
    public static partial void SupervisorCannotWatch(ILogger logger, string directory, string reason);

    /// <summary>An agent run ended failed because its model call failed (the run's record says so too); it is not restarted.</summary>
    [LoggerMessage(EventId = 5007, EventName = "RunModelCallFailed", Level = LogLevel.Warning,
        Message = "run {RunId} of agent {Agent} failed: the model call failed: {Reason}")]
    public static partial void RunModelCallFailed(ILogger logger, string runId, string agent, string reason);

    /// <summary>An exception escaped an agent run's loop (a bug, or a tool failing in a way it does not handle): the run crashed, and the supervisor restarts it.</summary>
    [LoggerMessage(EventId = 5011, EventName = "RunCrashed", Level = LogLevel.Error,
        Message = "run {RunId} of agent {Agent} crashed: {Reason}")]
    public static partial void RunCrashed(ILogger logger, string runId, string agent, string reason, Exception exception);

    /// <summary>An agent's memory could not be compacted; the memory is kept as it is and the run goes on.</summary>
    [LoggerMessage(EventId = 5008, EventName = "MemoryCompactionFailed", Level = LogLevel.Warning,
        Message = "the memory of agent {Agent} could not be compacted: {Reason}")]
    public static partial void MemoryCompactionFailed(ILogger logger, string agent, string reason);

    /// <summary>The text sent to a model in one turn: <see cref="LogLevel.Trace"/> only, as prompts are.</summary>
    [LoggerMessage(EventId = 5009, EventName = "ModelPrompt", Level = LogLevel.Trace, Message = "run {RunId} turn {Turn}: prompt {Prompt}")]
    public static partial void ModelPrompt(ILogger logger, string runId, int turn, string prompt);

    /// <summary>A tool call's arguments as the model gave them: <see cref="LogLevel.Trace"/> only, as tool arguments are.</summary>
    [LoggerMessage(EventId = 5010, EventName = "ToolCallArguments", Level = LogLevel.Trace, Message = "run {RunId} turn {Turn}: tool {Tool} with arguments {Arguments}")]
    public static partial void ToolCallArguments(ILogger logger, string runId, int turn, string tool, string arguments);

    /// <summary>The event store began to fail to write: every proposal is denied (fail closed) until it can again.</summary>
    [LoggerMessage(EventId = 5013, EventName = "StoreCannotWrite", Level = LogLevel.Error,
        Message = "the event store {Path} cannot write ({Reason}): every proposal is denied until it can; /readyz answers 503 meanwhile")]
    public static partial void StoreCannotWrite(ILogger logger, string path, string reason);

    /// <summary>The event store writes again after a fault: a warning, so that it shows wherever the fault showed.</summary>
    [LoggerMessage(EventId = 5014, EventName = "StoreWritesAgain", Level = LogLevel.Warning, Message = "the event store {Path} writes again; proposals are decided again")]
    public static partial void StoreWritesAgain(ILogger logger, string path);
    /// <summary>A changed part of the configuration loaded and is in force.</summary>
    [LoggerMessage(EventId = 5015, EventName = "ConfigReloaded", Level = LogLevel.Information,
        Message = "{Part} reloaded: version {Version} is in force")]
    public static partial void ConfigReloaded(ILogger logger, string part, string version);

    /// <summary>A changed part of the configuration cannot be loaded: the previous one stays in force.</summary>
    [LoggerMessage(EventId = 5016, EventName = "ConfigReloadFailed", Level = LogLevel.Warning,
        Message = "{Part} changed but cannot be loaded, so {Kept}; fix it (the server reloads it when it changes): {Errors}")]
    public static partial void ConfigReloadFailed(ILogger logger, string part, string kept, string errors);

    /// <summary>A part that could not be loaded loads again: a warning, so that it shows wherever the failure showed.</summary>
    [LoggerMessage(EventId = 5017, EventName = "ConfigLoadsAgain", Level = LogLevel.Warning,
        Message = "{Part} loads again: version {Version} is in force")]
    public static partial void ConfigLoadsAgain(ILogger logger, string part, string version);

    /// <summary>Settings of a reloaded <c>apiary.yaml</c> that only a restart applies.</summary>
    [LoggerMessage(EventId = 5018, EventName = "ConfigRestartNeeded", Level = LogLevel.Warning,
        Message = "apiary.yaml reloaded, but {Settings} apply only after the server restarts")]
    public static partial void ConfigRestartNeeded(ILogger logger, string settings);

    /// <summary>Changes of the configuration files cannot be noticed (or some were missed): the watch is started again.</summary>
    [LoggerMessage(EventId = 5019, EventName = "ConfigWatchTrouble", Level = LogLevel.Warning,
        Message = "changes of the configuration files in {Directory} may go unnoticed: {Reason}")]
    public static partial void ConfigWatchTrouble(ILogger logger, string directory, string reason);

    /// <summary>Reloading a part failed for a reason other than its files (a file could not be read); the next change tries again.</summary>
    [LoggerMessage(EventId = 5020, EventName = "ConfigReloadError", Level = LogLevel.Warning,
        Message = "{Part} could not be reloaded ({Reason}); the next change of its files tries again")]
    public static partial void ConfigReloadError(ILogger logger, string part, string reason);
}
