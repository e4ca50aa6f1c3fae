using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Apiary.Models.Telemetry;

/// <summary>
/// Measures every call of the client it wraps (<see cref="ModelTelemetry"/>): one activity per call, retries included,
/// with the tokens the response reports; the calls, tokens and duration counted by endpoint and model. Prompts and
/// answers are never put on an activity or a measurement.
/// </summary>
internal sealed class TelemetryChatClient(IChatClient innerClient, string endpoint, string provider, string model) : DelegatingChatClient(innerClient)
{
    public override async Task<ChatResponse> GetResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        using var call = Start();
        try
        {
            var response = await base.GetResponseAsync(messages, options, cancellationToken).ConfigureAwait(false);
            call.Succeeded(response.Usage, response.FinishReason);
            return response;
        }
        catch (Exception ex)
        {
            call.Failed(ex);
            throw;
        }
    }

    public override IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return StreamAsync(messages, options, cancellationToken);
    }

    private async IAsyncEnumerable<ChatResponseUpdate> StreamAsync(
        IEnumerable<ChatMessage> messages, ChatOptions? options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var call = Start();
        UsageDetails? usage = null;
        ChatFinishReason? finish = null;
        var stream = base.GetStreamingResponseAsync(messages, options, cancellationToken).GetAsyncEnumerator(cancellationToken);
        try
        {
            while (true)
            {
                ChatResponseUpdate update;
                try
                {
                    if (!await stream.MoveNextAsync().ConfigureAwait(false))
                    {
                        break;
                    }

                    update = stream.Current;
                }
                catch (Exception ex)
                {
                    call.Failed(ex);
                    throw;
                }

                foreach (var content in update.Contents)
                {
                    if (content is UsageContent { Details: { } details })
                    {
                        usage = details;
                    }
                }

                finish = update.FinishReason ?? finish;
                yield return update;
            }

            call.Succeeded(usage, finish);
        }
        finally
        {
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private Call Start()
    {
        var activity = ModelTelemetry.Source.StartActivity($"chat {model}", ActivityKind.Client);
        if (activity is not null)
        {
            activity.SetTag("gen_ai.operation.name", "chat");
            activity.SetTag("gen_ai.provider.name", provider);
            activity.SetTag("gen_ai.request.model", model);
            activity.SetTag("apiary.model.endpoint", endpoint);
        }

        return new Call(activity, endpoint, model, Stopwatch.GetTimestamp());
    }

    // One call in flight: ends its activity and records its measurements once.
    private sealed class Call(Activity? activity, string endpoint, string model, long started) : IDisposable
    {
        private bool _recorded;

        public void Succeeded(UsageDetails? usage, ChatFinishReason? finish)
        {
            Record("ok");
            var tags = Tags();
            if (usage?.InputTokenCount is { } input)
            {
                tags.Add("gen_ai.token.type", "input");
                ModelTelemetry.Tokens.Add(input, tags);
                activity?.SetTag("gen_ai.usage.input_tokens", input);
            }

            if (usage?.OutputTokenCount is { } output)
            {
                tags = Tags();
                tags.Add("gen_ai.token.type", "output");
                ModelTelemetry.Tokens.Add(output, tags);
                activity?.SetTag("gen_ai.usage.output_tokens", output);
            }

            if (finish is { } reason)
            {
                activity?.SetTag("gen_ai.response.finish_reasons", new[] { reason.Value });
            }
        }

        public void Failed(Exception error)
        {
            Record(error is OperationCanceledException ? "cancelled" : "error");
            activity?.SetTag("error.type", error.GetType().Name);
            activity?.SetStatus(ActivityStatusCode.Error, error is ModelCallException ? error.Message : error.GetType().Name);
        }

        public void Dispose()
        {
            // A stream the caller stopped reading early: neither a success nor a failure of the model.
            Record("cancelled");
            activity?.Dispose();
        }

        private void Record(string outcome)
        {
            if (_recorded)
            {
                return;
            }

            _recorded = true;
            var tags = Tags();
            tags.Add("apiary.model.outcome", outcome);
            ModelTelemetry.Calls.Add(1, tags);
            ModelTelemetry.CallDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds, tags);
        }

        private TagList Tags() => new() { { "apiary.model.endpoint", endpoint }, { "gen_ai.request.model", model } };
    }
}
