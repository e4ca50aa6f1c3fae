using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Apiary.Secrets;
using Apiary.Testing;
using Microsoft.Extensions.AI;

namespace Apiary.Models.Tests;

/// <summary>Every call of a model the catalog binds is an activity of <c>Apiary.Models</c>, and its tokens are counted.</summary>
public sealed class ModelTelemetryTests : IAsyncLifetime
{
    private readonly TestHome _home = new();
    private readonly ConcurrentQueue<Activity> _activities = new();
    private readonly ConcurrentQueue<(string Instrument, long Value, Dictionary<string, object?> Tags)> _measured = new();
    private readonly ActivityListener _activityListener;
    private readonly MeterListener _meterListener = new();
    private readonly string _model = "telemetry-" + Guid.NewGuid().ToString("N")[..8];
    private ScriptedModelServer _server = null!;

    public ModelTelemetryTests()
    {
        _activityListener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Apiary.Models",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _activities.Enqueue,
        };
        ActivitySource.AddActivityListener(_activityListener);
        _meterListener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Apiary.Models")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meterListener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var all = new Dictionary<string, object?>(StringComparer.Ordinal);
            foreach (var tag in tags)
            {
                all[tag.Key] = tag.Value;
            }

            if ((string?)all.GetValueOrDefault("gen_ai.request.model") == _model)
            {
                _measured.Enqueue((instrument.Name, value, all));
            }
        });
        _meterListener.Start();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _server = await ScriptedModelServer.StartAsync(Ct);

    public async ValueTask DisposeAsync()
    {
        _activityListener.Dispose();
        _meterListener.Dispose();
        await _server.DisposeAsync();
        _home.Dispose();
    }

    [Theory]
    [InlineData("openai")]
    [InlineData("anthropic")]
    public async Task GetResponse_OneActivityWithTheTokensAndTheCallCounted(string provider)
    {
        using var catalog = await CatalogAsync(provider);
        _server.EnqueueText("Hello there.", inputTokens: 12, outputTokens: 3);

        await catalog.Resolve($"scripted/{_model}").Client.GetResponseAsync([new(ChatRole.User, "Say hello")], cancellationToken: Ct);

        var activity = Assert.Single(_activities, a => (string?)a.GetTagItem("gen_ai.request.model") == _model);
        Assert.Equal($"chat {_model}", activity.DisplayName);
        Assert.Equal(ActivityKind.Client, activity.Kind);
        Assert.Equal(provider, activity.GetTagItem("gen_ai.provider.name"));
        Assert.Equal("scripted", activity.GetTagItem("apiary.model.endpoint"));
        Assert.Equal(12L, activity.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(3L, activity.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.Contains(_measured, m => m.Instrument == "apiary.model.calls" && m.Value == 1 && (string?)m.Tags["apiary.model.outcome"] == "ok");
        Assert.Contains(_measured, m => m.Instrument == "apiary.model.tokens" && m.Value == 12 && (string?)m.Tags["gen_ai.token.type"] == "input");
        Assert.Contains(_measured, m => m.Instrument == "apiary.model.tokens" && m.Value == 3 && (string?)m.Tags["gen_ai.token.type"] == "output");
    }

    [Fact]
    public async Task GetStreamingResponse_TokensOfTheStreamCounted()
    {
        using var catalog = await CatalogAsync("openai");
        _server.EnqueueText("Hello there.", inputTokens: 7, outputTokens: 2);

        await foreach (var _ in catalog.Resolve($"scripted/{_model}").Client.GetStreamingResponseAsync([new(ChatRole.User, "Say hello")], cancellationToken: Ct))
        {
        }

        var activity = Assert.Single(_activities, a => (string?)a.GetTagItem("gen_ai.request.model") == _model);
        Assert.Equal(7L, activity.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Contains(_measured, m => m.Instrument == "apiary.model.tokens" && m.Value == 2 && (string?)m.Tags["gen_ai.token.type"] == "output");
    }

    private async Task<ModelCatalog> CatalogAsync(string provider)
    {
        var url = provider == "openai" ? _server.OpenAIBaseUri.ToString() : _server.BaseUri.ToString();
        await File.WriteAllTextAsync(ModelsFile.PathIn(_home.Home), $"""
            endpoints:
              scripted: {"{"} provider: {provider}, base_url: "{url}", api_key_secret: MODEL_KEY {"}"}
            """, Ct);
        var secrets = new FileSecretStore(_home.Home);
        await secrets.SetAsync("MODEL_KEY", "sk-test-telemetry-0123456789", Ct);
        return await ModelCatalog.LoadAsync(_home.Home, secrets, new ModelCatalogOptions { Retry = new ModelRetryPolicy { MaxAttempts = 1 } }, Ct);
    }
}
