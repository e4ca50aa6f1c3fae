using Apiary.Models;
using Apiary.Runtime.Supervision;
using Microsoft.Extensions.Logging;

namespace Apiary.Runtime;

/// <summary>How the runtime of one home runs: its sandboxes, models, log checks and supervisor. Every value has a safe default.</summary>
public sealed class RuntimeOptions
{
    /// <summary>Run commands as plain processes instead of in sandboxes: for development only, and said on every result.</summary>
    public bool Unconfined { get; init; }

    /// <summary>
    /// Where the runtime logs (<see cref="Telemetry.RuntimeLog"/>: a broken models.yaml, a damaged log accepted, the
    /// supervisor's troubles; prompts and tool arguments at trace only); nowhere (<c>NullLoggerFactory</c>) when null.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>The models runs call, instead of those of the home's models.yaml (tests give scripted ones).</summary>
    public IModelCatalog? Models { get; init; }

    /// <summary>Serve a log that does not match its signed checkpoints, recording the acceptance (<c>--accept-damaged-log</c>).</summary>
    public bool AcceptDamagedLog { get; init; }

    /// <summary>When the log's head is signed.</summary>
    public AuditCheckpointOptions AuditCheckpoints { get; init; } = new();

    /// <summary>How the supervisor restarts crashed runs.</summary>
    public SupervisorOptions Supervisor { get; init; } = new();

    /// <summary>The supervisor's clock (tests advance it by hand); the runtime's own when null.</summary>
    internal TimeProvider? SupervisorClock { get; init; }

    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    internal void Validate()
    {
        Supervisor.Validate();
        AuditCheckpoints.Validate();
    }
}

/// <summary>The runtime cannot start on its home: the message says what is wrong and how to fix it.</summary>
public sealed class ServerStartException(string message) : ApiaryException(message);
