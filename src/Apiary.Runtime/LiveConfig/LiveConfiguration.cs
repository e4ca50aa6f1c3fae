using System.Collections.Immutable;
using Apiary.Configuration;
using Apiary.Home;
using Apiary.Models;
using Apiary.Runtime.Telemetry;
using Apiary.Sandbox.Templates;

namespace Apiary.Runtime.LiveConfig;

/// <summary>What changed in the configuration: a part reloaded (<see cref="Problem"/> null), or failed to (the problem).</summary>
/// <param name="Part">The part (<see cref="ConfigParts"/>).</param>
/// <param name="Version">The version of its files now.</param>
/// <param name="Problem">Why they cannot be loaded, when they cannot.</param>
public sealed record ConfigChange(string Part, string Version, ConfigProblem? Problem);

/// <summary>
/// The home's configuration while the server runs: the version in force of each part (policies, templates, models,
/// <c>apiary.yaml</c>), and <see cref="ReloadAsync"/>, which reads a part's files again and, when they changed, puts a
/// valid set in force at once or keeps the previous one. Either way it is recorded (<c>config.reloaded</c> or
/// <c>config.reload_failed</c>, stream <c>config</c>) and logged, and a failure stays in <see cref="Problems"/> until a
/// valid set loads. Reloads run one at a time.
/// </summary>
internal sealed class LiveConfiguration : IDisposable
{
    private readonly RuntimeContext _context;
    private readonly ReloadableModelCatalog? _models;
    private readonly ModelCatalogOptions _modelOptions;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, string> _seen = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _inForce = new(StringComparer.Ordinal);
    private ImmutableDictionary<string, ConfigProblem> _problems = ImmutableDictionary.Create<string, ConfigProblem>(StringComparer.Ordinal);

    /// <param name="context">The runtime whose policies, settings and agents' catalog are replaced.</param>
    /// <param name="models">The models to replace; null when the host gave the runtime models of its own (they are not reloaded).</param>
    /// <param name="modelOptions">How model catalogs are made.</param>
    /// <param name="loaded">What the runtime loaded at start: each part's version and, for a part that did not load, why.</param>
    public LiveConfiguration(RuntimeContext context, ReloadableModelCatalog? models, ModelCatalogOptions modelOptions, IEnumerable<(string Part, string Version, IReadOnlyList<string>? Errors)> loaded)
    {
        _context = context;
        _models = models;
        _modelOptions = modelOptions;
        foreach (var (part, version, errors) in loaded)
        {
            _seen[part] = version;
            if (errors is null)
            {
                _inForce[part] = version;
            }
            else
            {
                _problems = _problems.SetItem(part, new ConfigProblem(part, errors, KeptText(part, null), context.Time.GetUtcNow()));
            }
        }
    }

    /// <summary>Raised when a part reloaded or failed to, just before that is recorded; on the reloading thread. Handlers must not throw.</summary>
    public event Action<ConfigChange>? Changed;

    /// <summary>The parts whose files cannot be loaded as they are now, in the order of <see cref="ConfigParts.All"/>.</summary>
    public IReadOnlyList<ConfigProblem> Problems
    {
        get
        {
            var problems = _problems;
            return [.. ConfigParts.All.Where(problems.ContainsKey).Select(p => problems[p])];
        }
    }

    /// <summary>The version in force of <paramref name="part"/>; null when it has not loaded since the server started.</summary>
    public string? VersionOf(string part)
    {
        lock (_inForce)
        {
            return _inForce.GetValueOrDefault(part);
        }
    }

    /// <summary>The version of the <c>*.yaml</c> files of the templates folder (none: the empty set).</summary>
    public static string TemplatesVersion(ApiaryHome home) =>
        ContentHash.Of(Directory.Exists(home.TemplatesDirectory)
            ? Directory.GetFiles(home.TemplatesDirectory, "*" + SandboxTemplateLoader.Extension).Select(f => ("templates/" + Path.GetFileName(f), File.ReadAllText(f)))
            : []);

    /// <summary>The text of a configuration file (null when there is none) and its version.</summary>
    public static async Task<(string? Text, string Version)> ReadFileAsync(string path, CancellationToken cancellationToken)
    {
        var text = File.Exists(path) ? await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false) : null;
        return (text, ContentHash.Of(Path.GetFileName(path), text));
    }

    /// <summary>The version of a policy set read by <see cref="PolicyLoader.ReadDirectory"/> (a missing folder: the empty set).</summary>
    public static string PolicyVersion(IReadOnlyList<PolicySource>? sources) => PolicyLoader.VersionOf(sources ?? []);

    /// <summary>Records <c>config.loaded</c>: the versions the server started with.</summary>
    public Task RecordStartAsync(CancellationToken cancellationToken)
    {
        string Seen(string part) => _seen.GetValueOrDefault(part, "");
        var problems = Problems;
        return _context.RecordAsync(ConfigEventTypes.Stream, RuntimeJsonContext.Event(ConfigEventTypes.Loaded,
            new ConfigLoadedData(Seen(ConfigParts.Policies), Seen(ConfigParts.Templates), Seen(ConfigParts.Models), Seen(ConfigParts.Config),
                problems.Count == 0 ? null : [.. problems.Select(p => p.Part)], _context.Time.GetUtcNow()),
            RuntimeJsonContext.Default.ConfigLoadedData), cancellationToken);
    }

    /// <summary>
    /// Reads <paramref name="part"/>'s files again. Unchanged since they were last read: nothing happens. Valid: they are
    /// in force from now on. Invalid: what was in force stays. Files that cannot be read are logged and tried again at
    /// the next change.
    /// </summary>
    public async Task ReloadAsync(string part, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var change = part switch
            {
                ConfigParts.Policies => ReloadPolicies(),
                ConfigParts.Templates => await ReloadTemplatesAsync(cancellationToken).ConfigureAwait(false),
                ConfigParts.Models => await ReloadModelsAsync(cancellationToken).ConfigureAwait(false),
                ConfigParts.Config => await ReloadConfigAsync(cancellationToken).ConfigureAwait(false),
                _ => throw new ArgumentOutOfRangeException(nameof(part), part, "not a part of the configuration"),
            };
            if (change is not null)
            {
                await RecordAsync(change.Value.Version, change.Value.Outcome, part, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ApiaryException)
        {
            RuntimeLog.ConfigReloadError(_context.Log, part, ex.Message);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();

    private (string Version, Outcome Outcome)? ReloadPolicies()
    {
        var directory = _context.Home.PoliciesDirectory;
        var sources = PolicyLoader.ReadDirectory(directory);
        var version = PolicyVersion(sources);
        if (!IsNew(ConfigParts.Policies, version))
        {
            return null;
        }

        var loaded = sources is null ? PolicyLoader.LoadDirectory(directory) : PolicyLoader.Parse(sources);
        if (loaded.Policy is not { } policy)
        {
            var errors = Errors(loaded.Diagnostics);
            if (_context.PolicyProblem is not null)
            {
                // Never loaded since the start: proposals stay refused, now with what is wrong with the files as they are.
                _context.PolicyProblem = PolicyProblemText(_context.Home, errors);
            }

            return (version, Outcome.Failed(errors));
        }

        _context.Pipeline.Engine.Use(policy);
        _context.PolicyProblem = null;
        return (version, Outcome.Loaded(Warnings(loaded.Diagnostics)));
    }

    private async Task<(string Version, Outcome Outcome)?> ReloadTemplatesAsync(CancellationToken cancellationToken)
    {
        var version = TemplatesVersion(_context.Home);
        if (!IsNew(ConfigParts.Templates, version))
        {
            return null;
        }

        // Templates are read whenever a session opens, so a change is in force at once; a broken template is reported
        // here, and sessions that name it are refused with the same errors until it is fixed.
        var errors = new List<string>();
        var warnings = new List<string>();
        if (Directory.Exists(_context.Home.TemplatesDirectory))
        {
            var listing = await new SandboxTemplateLoader(_context.Home.TemplatesDirectory, _context.Home.Root).ListAsync(cancellationToken).ConfigureAwait(false);
            var all = listing.Diagnostics.Concat(listing.Templates.SelectMany(t => t.Diagnostics)).ToList();
            errors.AddRange(Errors(all));
            warnings.AddRange(Warnings(all));
        }

        return (version, errors.Count > 0 ? Outcome.Failed(errors) : Outcome.Loaded(warnings));
    }

    private async Task<(string Version, Outcome Outcome)?> ReloadModelsAsync(CancellationToken cancellationToken)
    {
        var path = ModelsFile.PathIn(_context.Home);
        var (text, version) = await ReadFileAsync(path, cancellationToken).ConfigureAwait(false);
        if (_models is null || !IsNew(ConfigParts.Models, version))
        {
            return null;
        }

        var (file, diagnostics) = text is null ? (null, []) : ModelsFile.Parse(text, path);
        if (diagnostics.Any(d => d.Severity == DiagnosticSeverity.Error))
        {
            return (version, Outcome.Failed(Errors(diagnostics)));
        }

        ModelCatalog catalog;
        try
        {
            catalog = await ModelCatalog.CreateAsync(file, path, _context.Secrets, _modelOptions, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is ApiaryException or IOException or UnauthorizedAccessException)
        {
            return (version, Outcome.Failed([$"{path}: error: the keys it names cannot be read: {ex.Message}"]));
        }

        _models.Use(catalog);
        return (version, Outcome.Loaded(Warnings(diagnostics)));
    }

    private async Task<(string Version, Outcome Outcome)?> ReloadConfigAsync(CancellationToken cancellationToken)
    {
        var path = _context.Home.ConfigFile;
        var (text, version) = await ReadFileAsync(path, cancellationToken).ConfigureAwait(false);
        if (!IsNew(ConfigParts.Config, version))
        {
            return null;
        }

        var (config, diagnostics) = text is null ? (HomeConfig.Empty, []) : HomeConfig.Parse(text, path);
        if (config is null)
        {
            return (version, Outcome.Failed(Errors(diagnostics)));
        }

        // Agents' defaults, prompt caps and memory compaction apply from the next agent loaded; the host names and the
        // telemetry export are set up once, when the server starts.
        var before = _context.Config;
        List<string> restart = [];
        if (!before.AllowedHosts.SequenceEqual(config.AllowedHosts))
        {
            restart.Add("server.allowed_hosts");
        }

        if (before.Telemetry != config.Telemetry)
        {
            restart.Add("telemetry");
        }

        _context.Config = config;
        _context.Catalog.UseConfig(config);
        if (restart.Count > 0)
        {
            RuntimeLog.ConfigRestartNeeded(_context.Log, string.Join(" and ", restart));
        }

        return (version, Outcome.Loaded(Warnings(diagnostics), restart));
    }

    /// <summary>Notes <paramref name="version"/> as the files of <paramref name="part"/> last read; false when they were already.</summary>
    private bool IsNew(string part, string version)
    {
        if (_seen.GetValueOrDefault(part) == version)
        {
            return false;
        }

        _seen[part] = version;
        return true;
    }

    private async Task RecordAsync(string version, Outcome outcome, string part, CancellationToken cancellationToken)
    {
        var now = _context.Time.GetUtcNow();
        string? previous;
        lock (_inForce)
        {
            previous = _inForce.GetValueOrDefault(part);
            if (outcome.Errors is null)
            {
                _inForce[part] = version;
            }
        }

        // Who shows the configuration (the dashboard, the readiness check) learns of the change before its event is
        // recorded, so a page that reloads on the event shows what is now in force.
        ConfigChange change;
        if (outcome.Errors is { } errors)
        {
            var problem = new ConfigProblem(part, errors, KeptText(part, previous), now);
            ImmutableInterlocked.Update(ref _problems, p => p.SetItem(part, problem));
            RuntimeLog.ConfigReloadFailed(_context.Log, part, problem.Kept, string.Join("; ", errors));
            change = new ConfigChange(part, version, problem);
            Changed?.Invoke(change);
            await Record(ConfigEventTypes.ReloadFailed, RuntimeJsonContext.Event(ConfigEventTypes.ReloadFailed,
                new ConfigReloadFailedData(part, version, previous, errors, now), RuntimeJsonContext.Default.ConfigReloadFailedData)).ConfigureAwait(false);
        }
        else
        {
            var failedBefore = ImmutableInterlocked.TryRemove(ref _problems, part, out _);
            if (failedBefore)
            {
                RuntimeLog.ConfigLoadsAgain(_context.Log, part, version);
            }
            else
            {
                RuntimeLog.ConfigReloaded(_context.Log, part, version);
            }

            change = new ConfigChange(part, version, null);
            Changed?.Invoke(change);
            await Record(ConfigEventTypes.Reloaded, RuntimeJsonContext.Event(ConfigEventTypes.Reloaded,
                new ConfigReloadedData(part, version, previous, outcome.Warnings is [] ? null : outcome.Warnings, outcome.RestartNeeded is [] ? null : outcome.RestartNeeded, now),
                RuntimeJsonContext.Default.ConfigReloadedData)).ConfigureAwait(false);
        }

        async Task Record(string type, EventData data)
        {
            try
            {
                await _context.RecordAsync(ConfigEventTypes.Stream, data, cancellationToken).ConfigureAwait(false);
            }
            catch (EventStoreException ex)
            {
                // The change is in force (or refused) all the same; the log says so, and the store's fault shows apart.
                RuntimeLog.ConfigReloadError(_context.Log, part, $"its {type} could not be recorded: {ex.Message}");
            }
        }
    }

    /// <summary>What stays in force while <paramref name="part"/>'s files cannot be loaded.</summary>
    private string KeptText(string part, string? previous) => part switch
    {
        ConfigParts.Policies when _context.PolicyProblem is not null => "no policies are loaded and every proposal is refused",
        ConfigParts.Policies => $"the policies loaded before (version {Short(previous)}) stay in force",
        ConfigParts.Templates => "sessions that use a broken template are refused; the others are not affected",
        ConfigParts.Models when previous is null => "agent runs are refused",
        ConfigParts.Models => $"the models loaded before (version {Short(previous)}) stay in force",
        _ when previous is null => "the settings the server started with stay in force",
        _ => $"the settings loaded before (version {Short(previous)}) stay in force",
    };

    private static string Short(string? version) => version is null ? "unknown" : version[..Math.Min(12, version.Length)];

    /// <summary>The <see cref="RuntimeContext.PolicyProblem"/> for policies that have not loaded since the start.</summary>
    public static string PolicyProblemText(ApiaryHome home, IEnumerable<string> errors) =>
        $"the policies in {home.PoliciesDirectory} cannot be loaded: {string.Join("; ", errors)}; fix them ('apiary policy check' shows what is wrong): the server loads them as soon as they are valid";

    private static List<string> Errors(IEnumerable<Diagnostic> diagnostics) =>
        [.. diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString())];

    private static List<string> Warnings(IEnumerable<Diagnostic> diagnostics) =>
        [.. diagnostics.Where(d => d.Severity == DiagnosticSeverity.Warning).Select(d => d.ToString())];

    private readonly record struct Outcome(IReadOnlyList<string>? Errors, IReadOnlyList<string> Warnings, IReadOnlyList<string> RestartNeeded)
    {
        public static Outcome Failed(IReadOnlyList<string> errors) => new(errors, [], []);

        public static Outcome Loaded(IReadOnlyList<string> warnings, IReadOnlyList<string>? restartNeeded = null) => new(null, warnings, restartNeeded ?? []);
    }
}
