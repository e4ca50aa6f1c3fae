using Apiary.Agents;
using Apiary.Home;
using Apiary.Configuration;

namespace Apiary.Cli.Commands;

/// <summary>Options and steps shared by several commands.</summary>
internal static class CommonOptions
{
    private const string HomeOptionName = "--home";

    /// <summary>The <c>--home</c> option, added to the root command and inherited by every subcommand.</summary>
    public static Option<string?> Home() => new(HomeOptionName)
    {
        Description = "The Apiary home folder. Default: $APIARY_HOME, else ./.apiary if it exists, else ~/.apiary.",
        HelpName = "DIR",
        Recursive = true,
    };

    public static Option<bool> Json() => new("--json")
    {
        Description = "Print JSON for scripts instead of text for people.",
    };

    public static ApiaryHome LocateHome(ParseResult parse, CliContext context) =>
        ApiaryHome.Locate(parse.GetValue<string?>(HomeOptionName), context.GetEnvironmentVariable(ApiaryHome.EnvironmentVariable), context.CurrentDirectory, context.UserHome);

    /// <summary>The home, which must exist, and a catalog of its agents.</summary>
    public static async Task<AgentCatalog> OpenCatalogAsync(ParseResult parse, CliContext context, CancellationToken cancellationToken)
    {
        var home = LocateHome(parse, context);
        if (!home.Exists)
        {
            throw MissingHome(home);
        }

        var (config, diagnostics) = await HomeConfig.LoadAsync(home, cancellationToken).ConfigureAwait(false);
        await ReportAsync(context, diagnostics).ConfigureAwait(false);
        if (config is null)
        {
            throw CliException.Failure($"{home.ConfigFile} has errors (above); fix them and try again");
        }

        return new AgentCatalog(home, config);
    }

    /// <summary>The failure of a command that works on the files of a home that does not exist: what to do instead.</summary>
    public static CliException MissingHome(ApiaryHome home) => CliException.Failure(
        $"there is no Apiary home at {home.Root} ({Describe(home.Source)}); create it with 'apiary init --home {home.Root}', or point --home or ${ApiaryHome.EnvironmentVariable} at an existing home");

    /// <summary>An inbox's owner as given on the command line: <c>operator</c>, or an agent's name (checked).</summary>
    /// <exception cref="CliException">Not a valid agent name.</exception>
    public static string ParseInbox(string raw) => raw == "operator" ? raw : ParseName(raw).Value;

    /// <summary>
    /// Connects to the running server of <paramref name="home"/>. A home that does not exist is named as such (with how
    /// to create it) rather than as a missing server.
    /// </summary>
    public static async Task<Client.ApiaryClient> ConnectAsync(ApiaryHome home, CancellationToken cancellationToken)
    {
        if (!home.Exists)
        {
            throw CliException.Failure(
                $"there is no Apiary home at {home.Root} ({Describe(home.Source)}); create it with 'apiary init --home {home.Root}' (or 'apiary up --home {home.Root}', which also starts its server), or point --home or ${ApiaryHome.EnvironmentVariable} at an existing home");
        }

        return await Client.ApiaryClient.ConnectAsync(home, cancellationToken).ConfigureAwait(false);
    }

    public static AgentName ParseName(string raw) =>
        AgentName.TryCreate(raw, out var name, out var error)
            ? name
            : throw CliException.BadInput($"'{raw}' is not a valid agent name: {error.Message}");

    public static async Task<AgentEntry> LoadAgentAsync(AgentCatalog catalog, string raw, AgentOverrides overrides, CancellationToken cancellationToken)
    {
        var name = ParseName(raw);
        return await catalog.LoadAsync(name, overrides, cancellationToken).ConfigureAwait(false)
            ?? throw CliException.BadInput($"there is no agent named '{name}' in {catalog.Home.AgentsDirectory}; {Present(catalog.Home.AgentsDirectory)}; 'apiary agents new {name}' creates one");
    }

    /// <summary>The agents a home has, named without a server (this runs with none): its agents folder's folders.</summary>
    private static string Present(string agentsDirectory)
    {
        var names = Directory.Exists(agentsDirectory)
            ? Directory.GetDirectories(agentsDirectory).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList()
            : [];
        return names.Count == 0 ? "it has none" : $"it has {string.Join(", ", names)}";
    }

    public static async Task ReportAsync(CliContext context, IEnumerable<Diagnostic> diagnostics)
    {
        foreach (var diagnostic in diagnostics)
        {
            await context.Error.WriteLineAsync(diagnostic.ToString()).ConfigureAwait(false);
        }
    }

    public static string Describe(HomeSource source) => source switch
    {
        HomeSource.Option => "from --home",
        HomeSource.Environment => $"from ${ApiaryHome.EnvironmentVariable}",
        HomeSource.CurrentDirectory => "./.apiary in the current directory",
        _ => "the default, ~/.apiary",
    };
}
