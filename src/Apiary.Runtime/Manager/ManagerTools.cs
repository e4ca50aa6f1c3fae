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

    /// <summary>Whether <paramref name="name"/> is one of these tools.</summary>
    public static bool Handles(string name) => name is RequestSpawn or Start or Stop or Restart or Update;

    /// <summary>The declarations the model is given.</summary>
    public static IList<AITool> Declarations { get; } =
    [
        AgentTools.Declare(
            RequestSpawn,
            "Managers only. Ask for a new agent (or a change to one you spawned) from a draft folder you prepared in your workspace: AGENTS.md with frontmatter, SOUL.md and any other files. " +
            "The draft may not widen what you have: its policies must be among yours, its allowed_recipients among yours (or you), its budget within a share of what your session has left, " +
            "its role worker. A person approves it after reading the diff of its files; then it is created in the home and you can start it.",
            """
            {
              "type": "object",
              "properties": {
                "name": { "type": "string", "description": "The new agent's name: lowercase letters, digits and dashes." },
                "from_draft": { "type": "string", "description": "The draft folder, relative to your workspace." }
              },
              "required": ["name", "from_draft"],
              "additionalProperties": false
            }
            """),
        AgentTools.Declare(
            Start,
            "Managers only. Start a run of an agent you manage on a task; returns the run's id at once (the agent works in its own session). Use send/recv to talk to it.",
            """
            {
              "type": "object",
              "properties": {
                "agent": { "type": "string", "description": "The agent to start." },
                "task": { "type": "string", "description": "What it is to do, and what 'done' means." }
              },
              "required": ["agent", "task"],
              "additionalProperties": false
            }
            """),
        AgentTools.Declare(
            Stop,
            "Managers only. Stop every run of an agent you manage: the kill switch of each run's session is engaged, so a model call or a waiting approval ends at once.",
            """
            {
              "type": "object",
              "properties": {
                "agent": { "type": "string", "description": "The agent to stop." }
              },
              "required": ["agent"],
              "additionalProperties": false
            }
            """),
        AgentTools.Declare(
            Restart,
            "Managers only. Stop an agent's runs and start it again on the task of its last start (or the task given).",
            """
            {
              "type": "object",
              "properties": {
                "agent": { "type": "string", "description": "The agent to restart." },
                "task": { "type": "string", "description": "The task of the new run. Default: the task you last started it with." }
              },
              "required": ["agent"],
              "additionalProperties": false
            }
            """),
        AgentTools.Declare(
            Update,
            "Managers only. Reload an agent's definition from its files (after they changed): checks that it loads and its prompt composes; its next run uses it. Idempotent; " +
            "the agent shows 'rebuilding' while it runs.",
            """
            {
              "type": "object",
              "properties": {
                "agent": { "type": "string", "description": "The agent to reload." }
              },
              "required": ["agent"],
              "additionalProperties": false
            }
            """),
    ];
}
