using System.Collections.Concurrent;

namespace Apiary.Runtime;

/// <summary>
/// Every built-in tool, registered once: the turn loop declares them to the model and dispatches calls by name from
/// here; <c>GET /api/tools</c> lists them (and <c>apiary mcp</c> describes the external ones from that list). Later
/// capabilities add tools by registering them.
/// </summary>
internal sealed class ToolRegistry
{
    private readonly ConcurrentDictionary<string, IAgentTool> _tools = new(StringComparer.Ordinal);
    private readonly List<IAgentTool> _order = [];
    private IList<AITool>? _declarations;

    /// <summary>Adds <paramref name="tool"/>; a second tool of the same name is a programming error.</summary>
    public ToolRegistry Register(IAgentTool tool)
    {
        if (!_tools.TryAdd(tool.Descriptor.Name, tool))
        {
            throw new InvalidOperationException($"a tool named '{tool.Descriptor.Name}' is registered already");
        }

        lock (_order)
        {
            _order.Add(tool);
            _declarations = null;
        }

        return this;
    }

    /// <summary>The tools in the order they were registered.</summary>
    public IReadOnlyList<IAgentTool> All
    {
        get
        {
            lock (_order)
            {
                return [.. _order];
            }
        }
    }

    public IAgentTool? Find(string name) => _tools.GetValueOrDefault(name);

    /// <summary>The declarations the model is given: names, descriptions and JSON schemas, nothing it could invoke itself.</summary>
    public IList<AITool> Declarations
    {
        get
        {
            lock (_order)
            {
                return _declarations ??= [.. _order.Select(t => AgentTools.Declare(t.Descriptor.Name, t.Descriptor.Description, t.Descriptor.InputSchema))];
            }
        }
    }
}
