using Apiary.Home;

namespace Apiary.Testing;

/// <summary>
/// A throwaway Apiary home in a real temp folder, with its own fake user home (so <c>~</c> never means the real one).
/// </summary>
public sealed class TestHome : IDisposable
{
    private readonly TempDirectory _root = new("apiary-home");

    public TestHome()
    {
        UserHome = _root.CreateDirectory("user");
        Home = new ApiaryHome(_root["user/.apiary"], UserHome);
        Directory.CreateDirectory(Home.AgentsDirectory);
        Directory.CreateDirectory(Home.TemplatesDirectory);
        Directory.CreateDirectory(Home.PoliciesDirectory);
        File.WriteAllText(System.IO.Path.Combine(Home.TemplatesDirectory, "default.yaml"), "egress: none\n");
    }

    public ApiaryHome Home { get; }

    /// <summary>The fake user home that <c>~</c> expands to.</summary>
    public string UserHome { get; }

    /// <summary>The temp folder that holds both the user home and anything else a test needs.</summary>
    public TempDirectory Scratch => _root;

    /// <summary>Writes a file of agent <paramref name="agent"/> and returns its path.</summary>
    public string WriteAgentFile(string agent, string file, string text) =>
        _root.Write(System.IO.Path.Combine("user/.apiary/agents", agent, file), text);

    public void Dispose() => _root.Dispose();
}
