using System.Text.Json;
using Microsoft.Extensions.AI;
using Apiary.Runtime;

namespace Apiary.Runtime.Manager;

/// <summary>
/// The tools only a manager may use: <c>request_spawn</c> (a new agent from a draft folder, approved by a person with
/// the diff of its files), <c>start</c>, <c>stop</c>, <c>restart</c> and <c>update</c>. They are declared to every run;
/// the control plane refuses them to an agent whose role is not <c>manager</c>.
/// </summary>
internal static class ManagerTools
{
    public const string RequestSpawn = "request_spawn";
    public const string Start = "start";
    public const string Stop = "stop";
    public const string Restart = "restart";
    public const string Update = "update";

    /// <summary>Runs a manager tool's <paramref name="work"/>; arguments the model got wrong and refusals become what it is told.</summary>
    public static async Task<ToolOutcome> GuardAsync(Func<Task<string>> work)
    {
        try
        {
            return new ToolOutcome(await work().ConfigureAwait(false));
        }
        catch (Exception ex) when (ex is ArgumentException or RequestRefusedException)
        {
            return new ToolOutcome($"error: {ex.Message}; nothing was done");
        }
    }
}
