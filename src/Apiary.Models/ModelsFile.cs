using System.Globalization;
using Apiary.Agents;
using Apiary.Configuration;
using Apiary.Home;
using Apiary.Secrets;
using YamlDotNet.RepresentationModel;

namespace Apiary.Models;

/// <summary>The wire format an endpoint speaks.</summary>
public enum ModelProvider
{
    /// <summary>OpenAI chat completions: OpenAI itself and compatible servers (Ollama, vLLM, llama.cpp, LM Studio, OpenRouter).</summary>
    OpenAI,

    /// <summary>Anthropic messages.</summary>
    Anthropic,
}

/// <summary>One endpoint of <c>models.yaml</c>: where models are served and how to authenticate. Never holds the key itself.</summary>
/// <param name="Name">The endpoint's name, the part before the slash of a model reference.</param>
/// <param name="Provider">The wire format it speaks.</param>
/// <param name="BaseUrl">Where it is; null for the provider's own service.</param>
/// <param name="ApiKeySecret">The secret in the home's secret store that holds its key, if any.</param>
/// <param name="ApiKeyEnvironment">The environment variable that holds its key, if any.</param>
public sealed record ModelEndpoint(string Name, ModelProvider Provider, Uri? BaseUrl, string? ApiKeySecret, string? ApiKeyEnvironment)
{
    /// <summary>Where requests go, for messages: the base URL, or the provider's public service.</summary>
    public string Address => BaseUrl?.ToString() ?? (Provider == ModelProvider.Anthropic ? "https://api.anthropic.com" : "https://api.openai.com/v1");
}

/// <summary>
/// The home's <c>models.yaml</c>: the endpoints agents may use, the default model and a price table for budgets.
/// Keys are named here (a secret or an environment variable), never written here.
/// </summary>
public sealed record ModelsFile
{
    /// <summary>The file's name in the home.</summary>
    public const string FileName = "models.yaml";

    /// <summary>The top-level fields.</summary>
    public static readonly IReadOnlyList<string> Sections = ["default", "endpoints", "prices"];

    /// <summary>The fields of one endpoint.</summary>
    public static readonly IReadOnlyList<string> EndpointFields = ["provider", "base_url", "api_key_secret", "api_key_env"];

    /// <summary>The fields of one price.</summary>
    public static readonly IReadOnlyList<string> PriceFields = ["input", "output"];

    /// <summary>The provider names <c>provider:</c> accepts.</summary>
    public static readonly IReadOnlyList<string> ProviderNames = ["openai", "anthropic"];

    /// <summary>The model used when an agent names none, as <c>endpoint/model</c>; null when there is no default.</summary>
    public string? Default { get; init; }

    /// <summary>The endpoints by name.</summary>
    public IReadOnlyDictionary<string, ModelEndpoint> Endpoints { get; init; } = new Dictionary<string, ModelEndpoint>(StringComparer.Ordinal);

    /// <summary>Prices by model reference (<c>endpoint/model</c>).</summary>
    public IReadOnlyDictionary<string, ModelPrice> Prices { get; init; } = new Dictionary<string, ModelPrice>(StringComparer.Ordinal);

    /// <summary>The path of <paramref name="home"/>'s models file.</summary>
    public static string PathIn(ApiaryHome home)
    {
        ArgumentNullException.ThrowIfNull(home);
        return Path.Combine(home.Root, FileName);
    }

    /// <summary>Reads <paramref name="home"/>'s <c>models.yaml</c>.</summary>
    /// <returns>Null settings when the file is missing or has errors, and what was found wrong.</returns>
    public static async Task<(ModelsFile? File, IReadOnlyList<Diagnostic> Diagnostics)> LoadAsync(
        ApiaryHome home, CancellationToken cancellationToken = default)
    {
        var path = PathIn(home);
        if (!System.IO.File.Exists(path))
        {
            return (null, []);
        }

        var text = await System.IO.File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        return Parse(text, path);
    }

    /// <summary>Parses the text of a <c>models.yaml</c> read from <paramref name="file"/>.</summary>
    public static (ModelsFile? File, IReadOnlyList<Diagnostic> Diagnostics) Parse(string text, string file)
    {
        ArgumentNullException.ThrowIfNull(text);
        var yaml = new YamlReader(file);
        var endpoints = new Dictionary<string, ModelEndpoint>(StringComparer.Ordinal);
        var prices = new Dictionary<string, ModelPrice>(StringComparer.Ordinal);
        string? defaultModel = null;
        YamlNode? defaultNode = null;
        var priceNodes = new List<(string Reference, YamlNode Node)>();

        var root = yaml.LoadRoot(text);
        if (root is YamlMappingNode map)
        {
            foreach (var (keyNode, value) in map.Children)
            {
                var key = YamlReader.KeyOf(keyNode);
                switch (key)
                {
                    case "default" when YamlReader.IsNull(value):
                        yaml.WarnEmpty(keyNode, "default");
                        break;
                    case "default":
                        defaultModel = yaml.Text(value, "default");
                        defaultNode = value;
                        if (defaultModel is not null && !TrySplit(defaultModel, out _, out _))
                        {
                            yaml.Error(value.Start, $"'default' must be endpoint/model, such as local/llama3.2, not '{defaultModel}'");
                            defaultModel = null;
                        }

                        break;
                    case "endpoints" when value is YamlMappingNode endpointsMap:
                        ReadEndpoints(yaml, endpointsMap, endpoints);
                        break;
                    case "prices" when value is YamlMappingNode pricesMap:
                        ReadPrices(yaml, pricesMap, prices, priceNodes);
                        break;
                    case "endpoints" or "prices":
                        if (!YamlReader.IsNull(value))
                        {
                            yaml.Error(value.Start, $"'{key}' must be a mapping of names to settings");
                        }

                        break;
                    default:
                        yaml.WarnUnknown(keyNode, key, Sections, "");
                        break;
                }
            }
        }
        else if (root is not null)
        {
            yaml.Error(root.Start, "models.yaml must be a mapping with 'default', 'endpoints' and 'prices'");
        }

        // References must name a configured endpoint; a typo here would otherwise surface only when an agent runs.
        if (defaultModel is not null && TrySplit(defaultModel, out var defaultEndpoint, out _) && !endpoints.ContainsKey(defaultEndpoint))
        {
            yaml.Error(defaultNode!.Start, $"'default' names endpoint '{defaultEndpoint}', which is not configured; {Known(endpoints.Keys)}");
        }

        foreach (var (reference, node) in priceNodes)
        {
            if (TrySplit(reference, out var endpoint, out _) && !endpoints.ContainsKey(endpoint))
            {
                yaml.Warning(node.Start, $"the price of '{reference}' names endpoint '{endpoint}', which is not configured; {Known(endpoints.Keys)}");
            }
        }

        var result = new ModelsFile { Default = defaultModel, Endpoints = endpoints, Prices = prices };
        return (yaml.HasErrors ? null : result, yaml.Diagnostics);
    }

    /// <summary>Splits <c>endpoint/model</c>; the model part may itself contain slashes (<c>openrouter/meta-llama/llama-3</c>).</summary>
    public static bool TrySplit(string reference, out string endpoint, out string model)
    {
        ArgumentNullException.ThrowIfNull(reference);
        var slash = reference.IndexOf('/', StringComparison.Ordinal);
        endpoint = slash > 0 ? reference[..slash].Trim() : "";
        model = slash > 0 ? reference[(slash + 1)..].Trim() : "";
        return endpoint.Length > 0 && model.Length > 0;
    }

    /// <summary>"known endpoints: a, b" or "no endpoints are configured", for messages.</summary>
    internal static string Known(IEnumerable<string> names)
    {
        var sorted = names.Order(StringComparer.Ordinal).ToList();
        return sorted.Count == 0 ? "no endpoints are configured" : $"known endpoints: {string.Join(", ", sorted)}";
    }

    private static void ReadEndpoints(YamlReader yaml, YamlMappingNode map, Dictionary<string, ModelEndpoint> endpoints)
    {
        foreach (var (nameNode, value) in map.Children)
        {
            var name = YamlReader.KeyOf(nameNode);
            if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || name.Any(char.IsWhiteSpace))
            {
                yaml.Error(nameNode.Start, $"endpoint name '{name}' must be a non-empty word without '/' or spaces");
                continue;
            }

            if (value is not YamlMappingNode fields)
            {
                yaml.Error(value.Start, $"'endpoints.{name}' must be a mapping such as {{ provider: openai, base_url: \"http://127.0.0.1:11434/v1\" }}");
                continue;
            }

            if (ReadEndpoint(yaml, name, fields) is { } endpoint)
            {
                endpoints[name] = endpoint;
            }
        }
    }

    private static ModelEndpoint? ReadEndpoint(YamlReader yaml, string name, YamlMappingNode fields)
    {
        var prefix = $"endpoints.{name}.";
        ModelProvider? provider = null;
        Uri? baseUrl = null;
        string? secret = null;
        string? environment = null;
        var ok = true;
        foreach (var (keyNode, value) in fields.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            switch (key)
            {
                case "provider":
                    var providerName = yaml.Text(value, prefix + key);
                    provider = providerName switch
                    {
                        null => null,
                        "openai" => ModelProvider.OpenAI,
                        "anthropic" => ModelProvider.Anthropic,
                        _ => null,
                    };
                    if (providerName is not null && provider is null)
                    {
                        yaml.Error(value.Start, $"'{prefix}provider' must be one of {string.Join(", ", ProviderNames)}, not '{providerName}' (use openai for any OpenAI-compatible server: Ollama, vLLM, llama.cpp, LM Studio, OpenRouter)");
                    }

                    ok &= provider is not null;
                    break;
                case "base_url":
                    var url = yaml.Text(value, prefix + key);
                    if (url is not null && (!Uri.TryCreate(url, UriKind.Absolute, out baseUrl) || baseUrl.Scheme is not ("http" or "https")))
                    {
                        yaml.Error(value.Start, $"'{prefix}base_url' must be an absolute http:// or https:// URL, not '{url}'");
                        baseUrl = null;
                        ok = false;
                    }

                    break;
                case "api_key_secret":
                    secret = yaml.Text(value, prefix + key);
                    if (secret is not null && SecretName.Check(secret) is { } problem)
                    {
                        yaml.Error(value.Start, $"'{prefix}api_key_secret' must name a secret: {problem}");
                        secret = null;
                        ok = false;
                    }

                    break;
                case "api_key_env":
                    environment = yaml.Text(value, prefix + key);
                    if (environment is not null && SecretName.Check(environment) is not null)
                    {
                        yaml.Error(value.Start, $"'{prefix}api_key_env' must name an environment variable (A-Z a-z 0-9 _, not starting with a digit)");
                        environment = null;
                        ok = false;
                    }

                    break;
                default:
                    yaml.WarnUnknown(keyNode, key, EndpointFields, prefix);
                    break;
            }
        }

        if (secret is not null && environment is not null)
        {
            yaml.Error(fields.Start, $"'endpoints.{name}' sets both api_key_secret and api_key_env; keep one");
            ok = false;
        }

        if (provider is null)
        {
            if (!fields.Children.Any(c => YamlReader.KeyOf(c.Key) == "provider"))
            {
                yaml.Error(fields.Start, $"'endpoints.{name}' needs a provider: {string.Join(" or ", ProviderNames)}");
            }

            return null;
        }

        return ok ? new ModelEndpoint(name, provider.Value, baseUrl, secret, environment) : null;
    }

    private static void ReadPrices(YamlReader yaml, YamlMappingNode map, Dictionary<string, ModelPrice> prices, List<(string, YamlNode)> nodes)
    {
        foreach (var (referenceNode, value) in map.Children)
        {
            var reference = YamlReader.KeyOf(referenceNode);
            if (!TrySplit(reference, out _, out _))
            {
                yaml.Error(referenceNode.Start, $"a price is keyed by endpoint/model, such as claude/claude-sonnet-4-5, not '{reference}'");
                continue;
            }

            if (value is not YamlMappingNode fields)
            {
                yaml.Error(value.Start, $"'prices.{reference}' must be a mapping such as {{ input: 3.00, output: 15.00 }} (USD per million tokens)");
                continue;
            }

            decimal? input = null;
            decimal? output = null;
            foreach (var (keyNode, field) in fields.Children)
            {
                var key = YamlReader.KeyOf(keyNode);
                switch (key)
                {
                    case "input":
                        input = Dollars(yaml, field, $"prices.{reference}.input");
                        break;
                    case "output":
                        output = Dollars(yaml, field, $"prices.{reference}.output");
                        break;
                    default:
                        yaml.WarnUnknown(keyNode, key, PriceFields, $"prices.{reference}.");
                        break;
                }
            }

            if (input is null || output is null)
            {
                if (!fields.Children.Any(c => YamlReader.KeyOf(c.Key) == "input") || !fields.Children.Any(c => YamlReader.KeyOf(c.Key) == "output"))
                {
                    yaml.Error(fields.Start, $"'prices.{reference}' needs both input and output (USD per million tokens)");
                }

                continue;
            }

            prices[reference] = new ModelPrice(input.Value, output.Value);
            nodes.Add((reference, referenceNode));
        }
    }

    private static decimal? Dollars(YamlReader yaml, YamlNode node, string field)
    {
        var value = yaml.Text(node, field);
        if (value is null)
        {
            return null;
        }

        if (!decimal.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var amount))
        {
            yaml.Error(node.Start, $"'{field}' must be a number of US dollars per million tokens, such as 3.00, not '{value}'");
            return null;
        }

        return amount;
    }
}
