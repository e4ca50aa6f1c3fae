using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.AI;
using OpenAI.Chat;
using AI = Microsoft.Extensions.AI;
using Oa = OpenAI.Chat;

namespace Apiary.Models;

/// <summary>
/// An <see cref="IChatClient"/> over the official OpenAI SDK's chat-completions client, for OpenAI and every
/// compatible server. It maps messages (text, tool calls, tool results), options (temperature, top-p, max tokens,
/// stop sequences, tools and tool mode), replies, streamed updates and usage.
/// </summary>
internal sealed class OpenAIChatClient : IChatClient
{
    private readonly ChatClient _client;
    private readonly ChatClientMetadata _metadata;

    public OpenAIChatClient(ChatClient client, string model, Uri? endpoint)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _metadata = new ChatClientMetadata("openai", endpoint, model);
    }

    public async Task<ChatResponse> GetResponseAsync(
        IEnumerable<AI.ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var completion = (await _client.CompleteChatAsync(ToOpenAI(messages), ToOpenAI(options), cancellationToken).ConfigureAwait(false)).Value;

        var contents = new List<AIContent>();
        var text = string.Concat(completion.Content.Where(p => p.Kind == ChatMessageContentPartKind.Text).Select(p => p.Text));
        if (text.Length > 0)
        {
            contents.Add(new TextContent(text));
        }

        if (!string.IsNullOrEmpty(completion.Refusal))
        {
            contents.Add(new TextContent(completion.Refusal));
        }

        foreach (var call in completion.ToolCalls)
        {
            contents.Add(ToFunctionCall(call.Id, call.FunctionName, call.FunctionArguments?.ToString()));
        }

        return new ChatResponse(new AI.ChatMessage(ChatRole.Assistant, contents) { MessageId = completion.Id })
        {
            ResponseId = completion.Id,
            ModelId = completion.Model,
            CreatedAt = completion.CreatedAt,
            FinishReason = ToFinishReason(completion.FinishReason),
            Usage = ToUsage(completion.Usage),
            RawRepresentation = completion,
        };
    }

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(
        IEnumerable<AI.ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return StreamAsync(ToOpenAI(messages), ToOpenAI(options), cancellationToken);
    }

    private async IAsyncEnumerable<ChatResponseUpdate> StreamAsync(
        List<Oa.ChatMessage> messages, ChatCompletionOptions options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // Tool calls arrive in pieces keyed by index: the id and name first, then the arguments a fragment at a time.
        var calls = new SortedDictionary<int, (string? Id, string? Name, StringBuilder Arguments)>();
        string? responseId = null;
        string? model = null;
        DateTimeOffset? created = null;
        AI.ChatFinishReason? finish = null;
        await foreach (var update in _client.CompleteChatStreamingAsync(messages, options, cancellationToken).ConfigureAwait(false))
        {
            responseId ??= update.CompletionId;
            model ??= update.Model;
            created ??= update.CreatedAt == default ? null : update.CreatedAt;
            foreach (var call in update.ToolCallUpdates)
            {
                var entry = calls.TryGetValue(call.Index, out var existing) ? existing : (null, null, new StringBuilder());
                entry.Id ??= call.ToolCallId;
                entry.Name ??= call.FunctionName;
                if (call.FunctionArgumentsUpdate is { } fragment && !fragment.IsEmpty)
                {
                    entry.Arguments.Append(fragment.ToString());
                }

                calls[call.Index] = entry;
            }

            finish = update.FinishReason is { } reason ? ToFinishReason(reason) : finish;
            var contents = new List<AIContent>();
            foreach (var part in update.ContentUpdate)
            {
                if (part.Kind == ChatMessageContentPartKind.Text && !string.IsNullOrEmpty(part.Text))
                {
                    contents.Add(new TextContent(part.Text));
                }
            }

            if (update.Usage is { } usage)
            {
                contents.Add(new UsageContent(ToUsage(usage)!));
            }

            if (contents.Count > 0)
            {
                yield return Update(contents);
            }
        }

        var ending = calls.Values.Select(c => (AIContent)ToFunctionCall(c.Id ?? "", c.Name ?? "", c.Arguments.ToString())).ToList();
        yield return Update(ending, finish);

        ChatResponseUpdate Update(IList<AIContent> contents, AI.ChatFinishReason? finishReason = null) => new(ChatRole.Assistant, contents)
        {
            ResponseId = responseId,
            MessageId = responseId,
            ModelId = model,
            CreatedAt = created,
            FinishReason = finishReason,
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceKey is not null ? null
            : serviceType == typeof(ChatClientMetadata) ? _metadata
            : serviceType == typeof(ChatClient) ? _client
            : serviceType.IsInstanceOfType(this) ? this
            : null;
    }

    public void Dispose()
    {
        // The SDK's client holds nothing to release; the HTTP client under it belongs to the catalog.
    }

    internal static List<Oa.ChatMessage> ToOpenAI(IEnumerable<AI.ChatMessage> messages)
    {
        var result = new List<Oa.ChatMessage>();
        foreach (var message in messages)
        {
            var text = string.Concat(message.Contents.OfType<TextContent>().Select(t => t.Text));
            if (message.Role == ChatRole.System)
            {
                result.Add(new SystemChatMessage(text));
            }
            else if (message.Role == ChatRole.Assistant)
            {
                var calls = message.Contents.OfType<FunctionCallContent>()
                    .Select(c => ChatToolCall.CreateFunctionToolCall(c.CallId, c.Name, BinaryData.FromString(Serialize(c.Arguments))))
                    .ToList();
                if (calls.Count == 0)
                {
                    result.Add(new AssistantChatMessage(text));
                    continue;
                }

                var assistant = new AssistantChatMessage(calls);
                if (text.Length > 0)
                {
                    assistant.Content.Add(ChatMessageContentPart.CreateTextPart(text));
                }

                result.Add(assistant);
            }
            else
            {
                // Tool results go back as tool messages whatever role carries them; any text is the user's.
                foreach (var toolResult in message.Contents.OfType<FunctionResultContent>())
                {
                    result.Add(new ToolChatMessage(toolResult.CallId, ResultText(toolResult)));
                }

                if (text.Length > 0 || !message.Contents.OfType<FunctionResultContent>().Any())
                {
                    result.Add(new UserChatMessage(text) { ParticipantName = message.AuthorName });
                }
            }
        }

        return result;
    }

    internal static ChatCompletionOptions ToOpenAI(ChatOptions? options)
    {
        var result = new ChatCompletionOptions();
        if (options is null)
        {
            return result;
        }

        result.Temperature = options.Temperature;
        result.TopP = options.TopP;
        result.MaxOutputTokenCount = options.MaxOutputTokens;
        result.FrequencyPenalty = options.FrequencyPenalty;
        result.PresencePenalty = options.PresencePenalty;
        foreach (var stop in options.StopSequences ?? [])
        {
            result.StopSequences.Add(stop);
        }

        foreach (var tool in options.Tools ?? [])
        {
            if (tool is AIFunctionDeclaration function)
            {
                result.Tools.Add(ChatTool.CreateFunctionTool(function.Name, function.Description, BinaryData.FromString(function.JsonSchema.GetRawText())));
            }
        }

        if (result.Tools.Count > 0)
        {
            result.ToolChoice = options.ToolMode switch
            {
                NoneChatToolMode => ChatToolChoice.CreateNoneChoice(),
                RequiredChatToolMode { RequiredFunctionName: { } name } => ChatToolChoice.CreateFunctionChoice(name),
                RequiredChatToolMode => ChatToolChoice.CreateRequiredChoice(),
                _ => ChatToolChoice.CreateAutoChoice(),
            };
            result.AllowParallelToolCalls = options.AllowMultipleToolCalls;
        }

        return result;
    }

    private static FunctionCallContent ToFunctionCall(string id, string name, string? arguments) =>
        FunctionCallContent.CreateFromParsedArguments(
            string.IsNullOrWhiteSpace(arguments) ? "{}" : arguments, id, name,
            json => (IDictionary<string, object?>?)JsonSerializer.Deserialize(json, AIJsonUtilities.DefaultOptions.GetTypeInfo(typeof(IDictionary<string, object?>))));

    private static string ResultText(FunctionResultContent result) => result.Result switch
    {
        null => result.Exception is { } ex ? $"error: {ex.Message}" : "",
        string text => text,
        JsonElement json when json.ValueKind == JsonValueKind.String => json.GetString()!,
        var other => JsonSerializer.Serialize(other, AIJsonUtilities.DefaultOptions.GetTypeInfo(other.GetType())),
    };

    private static string Serialize(IDictionary<string, object?>? arguments) =>
        arguments is null ? "{}" : JsonSerializer.Serialize(arguments, AIJsonUtilities.DefaultOptions.GetTypeInfo(typeof(IDictionary<string, object?>)));

    private static AI.ChatFinishReason? ToFinishReason(Oa.ChatFinishReason reason) => reason switch
    {
        Oa.ChatFinishReason.Stop => AI.ChatFinishReason.Stop,
        Oa.ChatFinishReason.Length => AI.ChatFinishReason.Length,
        Oa.ChatFinishReason.ToolCalls or Oa.ChatFinishReason.FunctionCall => AI.ChatFinishReason.ToolCalls,
        Oa.ChatFinishReason.ContentFilter => AI.ChatFinishReason.ContentFilter,
        _ => null,
    };

    private static AI.ChatFinishReason? ToFinishReason(Oa.ChatFinishReason? reason) => reason is { } r ? ToFinishReason(r) : null;

    private static UsageDetails? ToUsage(ChatTokenUsage? usage) => usage is null ? null : new UsageDetails
    {
        InputTokenCount = usage.InputTokenCount,
        OutputTokenCount = usage.OutputTokenCount,
        TotalTokenCount = usage.TotalTokenCount,
    };
}
