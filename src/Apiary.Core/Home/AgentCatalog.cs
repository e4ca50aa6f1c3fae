using System.Text;
using Apiary.Agents;
using Apiary.Configuration;
using Apiary.IO;

namespace Apiary.Home;

/// <summary>
/// The agents of an Apiary home: discovers the folders under <c>agents/</c>, loads and validates each one on its own
/// (one broken agent never hides the others), composes prompts and creates new agents.
/// </summary>
public sealed class AgentCatalog
{
    private readonly ApiaryHome _home;
    private volatile HomeConfig _config;

    /// <summary>Creates a catalog of <paramref name="home"/> with its settings <paramref name="config"/>.</summary>
    public AgentCatalog(ApiaryHome home, HomeConfig config)
    {
        _home = home ?? throw new ArgumentNullException(nameof(home));
        _config = config ?? throw new ArgumentNullException(nameof(config));
    }

    /// <summary>The home's settings agents are loaded with (defaults, prompt caps).</summary>
    public HomeConfig Config => _config;

    /// <summary>Loads agents from now on with <paramref name="config"/> (a reloaded <c>apiary.yaml</c>); agents loaded before keep theirs.</summary>
    public void UseConfig(HomeConfig config) => _config = config ?? throw new ArgumentNullException(nameof(config));

    /// <summary>The home this catalog reads.</summary>
    public ApiaryHome Home => _home;

    /// <summary>Finds and loads every agent. Folders whose names are not valid agent names are skipped with a warning.</summary>
    public async Task<AgentListing> ListAsync(CancellationToken cancellationToken = default)
    {
        var diagnostics = new List<Diagnostic>();
        var entries = new List<AgentEntry>();
        if (!Directory.Exists(_home.AgentsDirectory))
        {
            diagnostics.Add(Diagnostic.Fail($"there is no agents folder in the home {_home.Root}; run 'apiary init' to create one", _home.AgentsDirectory));
            return new AgentListing(entries, diagnostics);
        }

        foreach (var folder in new DirectoryInfo(_home.AgentsDirectory).EnumerateDirectories().OrderBy(d => d.Name, StringComparer.Ordinal))
        {
            if (!AgentName.TryCreate(folder.Name, out var name, out var error))
            {
                diagnostics.Add(Diagnostic.Warn($"skipped: the folder name is not a valid agent name: {error.Message}", folder.FullName));
                continue;
            }

            entries.Add(await LoadFolderAsync(name, folder.FullName, AgentOverrides.None, cancellationToken).ConfigureAwait(false));
        }

        return new AgentListing(entries, diagnostics);
    }

    /// <summary>Loads one agent with <paramref name="overrides"/> applied; null when it has no folder.</summary>
    public async Task<AgentEntry?> LoadAsync(AgentName name, AgentOverrides? overrides = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        var folder = FolderOf(name);
        return Directory.Exists(folder)
            ? await LoadFolderAsync(name, folder, overrides ?? AgentOverrides.None, cancellationToken).ConfigureAwait(false)
            : null;
    }

    /// <summary>The folder an agent of that name lives in (whether or not it exists).</summary>
    public string FolderOf(AgentName name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Path.Combine(_home.AgentsDirectory, name.Value);
    }

    /// <summary>
    /// Composes the system prompt of <paramref name="agent"/>, capped by the home's prompt settings unless
    /// <paramref name="options"/> gives caps of its own.
    /// </summary>
    public Task<ComposedPrompt> ComposePromptAsync(AgentDefinition agent, PromptOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(agent);
        options ??= PromptOptionsFor(null, null);
        var consumed = agent.Bootstrap is { } done
            ? $"consumed: the agent completed its first session ({done.SessionId}) at {done.CompletedAt:u}"
            : null;
        return PromptComposer.ComposeAsync(agent.Directory, agent.Body, consumed, options, cancellationToken);
    }

    /// <summary>The prompt options in force: <paramref name="sectionChars"/> and <paramref name="totalChars"/> if given, else the home's, else the defaults.</summary>
    public PromptOptions PromptOptionsFor(int? sectionChars, int? totalChars)
    {
        var config = _config;
        return new()
        {
            SectionChars = sectionChars ?? config.SectionChars ?? PromptOptions.Default.SectionChars,
            TotalChars = totalChars ?? config.TotalChars ?? PromptOptions.Default.TotalChars,
        };
    }

    /// <summary>Creates a new agent folder with starter files and its workspace.</summary>
    /// <exception cref="AgentExistsException">An agent (or anything else) of that name is already there.</exception>
    public async Task<AgentEntry> CreateAsync(AgentName name, AgentRole role, string? description = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        var folder = FolderOf(name);
        if (Directory.Exists(folder) || File.Exists(folder))
        {
            throw new AgentExistsException(name, folder);
        }

        OwnerOnly.CreateDirectory(_home.AgentsDirectory);
        var staging = Path.Combine(_home.AgentsDirectory, $".new-{name.Value}-{Guid.NewGuid():N}");
        OwnerOnly.CreateDirectory(staging);
        try
        {
            foreach (var (file, text) in AgentScaffold.Files(name, role, description))
            {
                var stream = OwnerOnly.Open(Path.Combine(staging, file), options: FileOptions.Asynchronous);
                await using (stream.ConfigureAwait(false))
                {
                    await stream.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken).ConfigureAwait(false);
                }
            }

            // The folder appears whole or not at all: a half-written agent is never discovered.
            Directory.Move(staging, folder);
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }

            throw;
        }

        WorkspaceGuard.EnsureDefault(folder);
        return (await LoadAsync(name, cancellationToken: cancellationToken).ConfigureAwait(false))!;
    }

    private async Task<AgentEntry> LoadFolderAsync(AgentName name, string folder, AgentOverrides overrides, CancellationToken cancellationToken)
    {
        var diagnostics = new List<Diagnostic>();
        var files = PromptComposer.Files.Select(f => Describe(folder, f)).ToList();
        var manifestPath = Path.Combine(folder, PromptComposer.ManifestFile);
        var manifestFile = files.Single(f => f.Name == PromptComposer.ManifestFile);
        if (!manifestFile.Exists)
        {
            diagnostics.Add(Diagnostic.Fail($"the agent has no {PromptComposer.ManifestFile}; create one (see 'apiary agents new') or remove the folder", manifestPath));
            return new AgentEntry(name, folder, null, diagnostics);
        }

        if (manifestFile.Bytes > PromptOptions.Default.MaxFileBytes)
        {
            diagnostics.Add(Diagnostic.Fail($"{manifestFile.Bytes} bytes is over the limit of {PromptOptions.Default.MaxFileBytes} bytes; shorten it", manifestPath));
            return new AgentEntry(name, folder, null, diagnostics);
        }

        AgentManifestParseResult parsed;
        try
        {
            parsed = AgentManifestParser.Parse(await File.ReadAllTextAsync(manifestPath, cancellationToken).ConfigureAwait(false), manifestPath);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            diagnostics.Add(Diagnostic.Fail($"cannot be read: {ex.Message}", manifestPath));
            return new AgentEntry(name, folder, null, diagnostics);
        }

        diagnostics.AddRange(parsed.Diagnostics);
        foreach (var file in files.Where(f => f.Exists && f.Bytes > PromptOptions.Default.MaxFileBytes && f.Name != PromptComposer.ManifestFile))
        {
            diagnostics.Add(Diagnostic.Warn($"{file.Bytes} bytes is over the limit of {PromptOptions.Default.MaxFileBytes} bytes, so it is left out of the prompt; shorten it", Path.Combine(folder, file.Name)));
        }

        if (parsed.Manifest is not { } manifest)
        {
            return new AgentEntry(name, folder, null, diagnostics);
        }

        foreach (var error in SettingRules.Check(overrides))
        {
            diagnostics.Add(Diagnostic.Fail(error, "command line"));
        }

        var settings = AgentSettings.Resolve(manifest, _config.Defaults, overrides);
        CheckReferences(settings, manifestPath, diagnostics);
        var workspace = ResolveWorkspace(folder, manifest, overrides, manifestPath, diagnostics);

        BootstrapRecord? bootstrap = null;
        try
        {
            bootstrap = await BootstrapRecord.ReadAsync(folder, cancellationToken).ConfigureAwait(false);
        }
        catch (ApiaryException ex)
        {
            diagnostics.Add(Diagnostic.Fail(ex.Message, Path.Combine(folder, BootstrapRecord.RelativePath)));
        }

        if (workspace is null || diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error))
        {
            return new AgentEntry(name, folder, null, diagnostics);
        }

        var definition = new AgentDefinition(name, folder, manifest, parsed.Body, settings, workspace, files, bootstrap);
        return new AgentEntry(name, folder, definition, diagnostics);
    }

    private AgentWorkspace? ResolveWorkspace(string folder, AgentManifest manifest, AgentOverrides overrides, string manifestPath, List<Diagnostic> diagnostics)
    {
        var configured = overrides.Workspace ?? manifest.Workspace;
        if (configured is null)
        {
            var check = WorkspaceGuard.CheckDefault(folder);
            if (!check.IsAccepted)
            {
                diagnostics.Add(Diagnostic.Fail(check.Reason!, Path.Combine(folder, WorkspaceGuard.DefaultFolderName)));
                return null;
            }

            return new AgentWorkspace(check.Path!, IsDefault: true, Directory.Exists(check.Path), SettingSource.Default);
        }

        var source = overrides.Workspace is not null ? SettingSource.CommandLine : SettingSource.Frontmatter;
        var result = WorkspaceGuard.Validate(configured, _home.UserHome, _home.Root);
        if (!result.IsAccepted)
        {
            diagnostics.Add(Diagnostic.Fail(result.Reason!, source == SettingSource.Frontmatter ? manifestPath : "--workspace"));
            return null;
        }

        return new AgentWorkspace(result.Path!, IsDefault: false, Exists: true, source);
    }

    private void CheckReferences(AgentSettings settings, string manifestPath, List<Diagnostic> diagnostics)
    {
        var template = settings.Template.Value;
        if (!File.Exists(Path.Combine(_home.TemplatesDirectory, template + ".yaml")))
        {
            var where = settings.Template.Source switch
            {
                SettingSource.CommandLine => "--template",
                SettingSource.HomeConfig => _home.ConfigFile,
                _ => manifestPath,
            };
            diagnostics.Add(Diagnostic.Warn($"sandbox template '{template}' has no file templates/{template}.yaml in the home; add it or pick another template", where));
        }
    }

    private static AgentFile Describe(string folder, string file)
    {
        var info = new FileInfo(Path.Combine(folder, file));
        return info.Exists ? new AgentFile(file, true, info.Length) : new AgentFile(file, false, 0);
    }
}

/// <summary>An agent could not be created because its folder is already there.</summary>
public sealed class AgentExistsException : ApiaryException
{
    /// <summary>Creates the exception for <paramref name="name"/> at <paramref name="folder"/>.</summary>
    public AgentExistsException(AgentName name, string folder)
        : base($"an agent named '{name}' already exists at {folder}; choose another name") => Name = name;

    /// <summary>The name that is taken.</summary>
    public AgentName Name { get; }
}
