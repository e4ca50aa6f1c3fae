namespace Apiary.Cli;

/// <summary>The exit codes of every <c>apiary</c> command.</summary>
internal static class ExitCodes
{
    /// <summary>The command did what was asked.</summary>
    public const int Success = 0;

    /// <summary>The command was valid but failed: a broken agent, a missing home, an I/O error.</summary>
    public const int Failure = 1;

    /// <summary>The command was interrupted (Ctrl-C): 128 + SIGINT, as shells report it.</summary>
    public const int Interrupted = 130;

    /// <summary>The input was wrong: an unknown option, an invalid name, an agent that does not exist.</summary>
    public const int BadInput = 2;

    /// <summary>
    /// Governance refused the command (<c>apiary exec</c>): a policy denied or steered it, a person denied it, or nobody
    /// approved it in time. Like a shell's 126 ("cannot execute"): the command never ran.
    /// </summary>
    public const int Refused = 126;

    /// <summary><c>apiary run</c>: the agent did not finish: the model call failed, it hit the turn cap, or its session ended under it.</summary>
    public const int RunFailed = 3;

    /// <summary><c>apiary run</c>: the agent's budget (tokens, cost) could not cover the next model call.</summary>
    public const int BudgetExhausted = 4;

    /// <summary><c>apiary run</c>: a kill switch stopped the agent. 128 + SIGKILL, as <c>apiary exec</c> reports a killed command.</summary>
    public const int Killed = 137;
}

/// <summary>Ends a command with a message for people and an exit code.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    public int ExitCode { get; } = exitCode;

    public static CliException BadInput(string message) => new(ExitCodes.BadInput, message);

    public static CliException Failure(string message) => new(ExitCodes.Failure, message);
}
