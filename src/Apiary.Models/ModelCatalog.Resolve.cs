using System.Collections.Concurrent;
using Apiary.Home;
using Apiary.Secrets;
using Apiary.Configuration;

namespace Apiary.Models;

/// <summary>Settings of a <see cref="ModelCatalog"/> beyond <c>models.yaml</c>.</summary>
public sealed record ModelCatalogOptions
{
    /// <summary>How transient failures are retried. Default <see cref="ModelRetryPolicy.Default"/>.</summary>
    public ModelRetryPolicy Retry { get; init; } = ModelRetryPolicy.Default;

    /// <summary>The longest one model call may take, streaming included. Default 10 minutes.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>The clock retries wait on. Default the system clock.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Reads an environment variable, for <c>api_key_env</c>. Default the process environment.</summary>
    public Func<string, string?> Environment { get; init; } = System.Environment.GetEnvironmentVariable;
}

/// <summary>
/// The models of a home's <c>models.yaml</c>, ready to call. Keys are read once, when the catalog is loaded, from the
/// home's secret store (<c>api_key_secret</c>) or the environment (<c>api_key_env</c>); they never come from agent
/// files and never appear in a message. Each resolved client retries transient failures and turns every failure
/// into a <see cref="ModelCallException"/> that names the fix.
/// </summary>
public sealed partial class ModelCatalog : IModelCatalog, IDisposable
{
    private readonly ModelsFile? _file;
    private readonly string _path;
    private readonly IReadOnlyDictionary<string, EndpointKey> _keys;
    private readonly ModelCatalogOptions _options;
    private readonly ConcurrentDictionary<string, ModelBinding> _bindings = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, HttpClient> _httpClients = new(StringComparer.Ordinal);
    private readonly List<IDisposable> _owned = [];
    private bool _disposed;

    private ModelCatalog(ModelsFile? file, string path, IReadOnlyDictionary<string, EndpointKey> keys, ModelCatalogOptions options)
    {
        _file = file;
        _path = path;
        _keys = keys;
        _options = options;
    }

    /// <summary>The parsed <c>models.yaml</c>; null when the home has none.</summary>
    public ModelsFile? File => _file;

    /// <summary>
    /// Loads <paramref name="home"/>'s <c>models.yaml</c> and the keys it names. A home without the file loads as an
    /// empty catalog whose <see cref="Resolve"/> says how to create it.
    /// </summary>
    /// <exception cref="ModelConfigurationException">The file has errors; the message lists them as file:line:col.</exception>
    public static async Task<ModelCatalog> LoadAsync(
        ApiaryHome home, ISecretStore secrets, ModelCatalogOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(home);
        ArgumentNullException.ThrowIfNull(secrets);
        var (file, diagnostics) = await ModelsFile.LoadAsync(home, cancellationToken).ConfigureAwait(false);
        if (diagnostics.Any(d => d.Severity == Configuration.DiagnosticSeverity.Error))
        {
            throw new ModelConfigurationException(
                $"{ModelsFile.FileName} has errors:{System.Environment.NewLine}{string.Join(System.Environment.NewLine, diagnostics.Select(d => "  " + d))}");
        }

        return await CreateAsync(file, ModelsFile.PathIn(home), secrets, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A catalog of <paramref name="file"/> (null for none), read from <paramref name="path"/>.</summary>
    public static async Task<ModelCatalog> CreateAsync(
        ModelsFile? file, string path, ISecretStore secrets, ModelCatalogOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(secrets);
        options ??= new ModelCatalogOptions();
        options.Retry.Validate();
        var keys = new Dictionary<string, EndpointKey>(StringComparer.Ordinal);
        foreach (var endpoint in file?.Endpoints.Values ?? [])
        {
            keys[endpoint.Name] = endpoint switch
            {
                { ApiKeySecret: { } secret } => new EndpointKey(
                    EndpointKeySource.Secret, secret, await secrets.GetAsync(secret, cancellationToken).ConfigureAwait(false)),
                { ApiKeyEnvironment: { } variable } => new EndpointKey(EndpointKeySource.Environment, variable, options.Environment(variable)),
                _ => EndpointKey.None,
            };
        }

        return new ModelCatalog(file, path, keys, options);
    }

    /// <inheritdoc/>
    public ModelBinding Resolve(string? modelReference)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_file is null || _file.Endpoints.Count == 0)
        {
            var verb = _file is null ? "create" : "add an endpoint to";
            throw new ModelConfigurationException(
                $"no models are configured: {verb} {_path}, for example{System.Environment.NewLine}"
                + $"  default: local/llama3.2{System.Environment.NewLine}"
                + $"  endpoints:{System.Environment.NewLine}"
                + $"    local: {{ provider: openai, base_url: \"http://127.0.0.1:11434/v1\" }}{System.Environment.NewLine}"
                + "see docs/models.md");
        }

        var reference = string.IsNullOrWhiteSpace(modelReference) ? _file.Default : modelReference.Trim();
        if (reference is null)
        {
            throw new ModelConfigurationException(
                $"no model was named and {_path} has no default: set the agent's model to endpoint/model, or add 'default: endpoint/model' to {ModelsFile.FileName}");
        }

        if (!ModelsFile.TrySplit(reference, out var endpointName, out var model))
        {
            throw new ModelConfigurationException($"model '{reference}' must be endpoint/model, such as local/llama3.2");
        }

        if (!_file.Endpoints.TryGetValue(endpointName, out var endpoint))
        {
            throw new ModelConfigurationException(
                $"model '{reference}' names endpoint '{endpointName}', which {_path} does not configure; {ModelsFile.Known(_file.Endpoints.Keys)}");
        }

        var key = _keys[endpointName];
        CheckKey(endpoint, key);
        var canonical = $"{endpointName}/{model}";
        return _bindings.GetOrAdd(canonical, _ => Bind(endpoint, key, model, canonical));
    }

    /// <summary>Releases every client made, and their connections.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        lock (_owned)
        {
            foreach (var owned in _owned)
            {
                owned.Dispose();
            }
        }

        foreach (var http in _httpClients.Values)
        {
            http.Dispose();
        }
    }

    private static void CheckKey(ModelEndpoint endpoint, EndpointKey key)
    {
        switch (key.Source)
        {
            case EndpointKeySource.Secret when string.IsNullOrEmpty(key.Value):
                throw new ModelConfigurationException(
                    $"endpoint '{endpoint.Name}' takes its key from secret {key.Name}, which is not set: run 'apiary secrets set {key.Name}'");
            case EndpointKeySource.Environment when string.IsNullOrEmpty(key.Value):
                throw new ModelConfigurationException(
                    $"endpoint '{endpoint.Name}' takes its key from environment variable {key.Name}, which is not set: set it where the server runs, or use api_key_secret");
            case EndpointKeySource.None when endpoint.Provider == ModelProvider.Anthropic || endpoint.BaseUrl is null:
                throw new ModelConfigurationException(
                    $"endpoint '{endpoint.Name}' ({endpoint.Address}) needs a key: add 'api_key_secret: NAME' to endpoints.{endpoint.Name} in {ModelsFile.FileName} and run 'apiary secrets set NAME'");
        }
    }
}
