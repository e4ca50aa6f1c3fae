using System.Collections.Concurrent;
using Apiary.Models;
using Microsoft.Extensions.AI;

namespace Apiary.Server.Tests;

/// <summary>
/// A model that answers from a script: each call takes the next step (a text answer, tool calls, or a call that blocks
/// until cancelled), with the usage it reports. It keeps what it was sent. Small on purpose: the scripted HTTP model
/// server replaces it once the providers exist.
/// </summary>
internal sealed class ScriptedChatClient : IChatClient
{
    private readonly ConcurrentQueue<Func<CancellationToken, Task<ChatResponse>>> _steps = new();
    private readonly ConcurrentQueue<IReadOnlyList<ChatMessage>> _calls = new();
    private readonly TaskCompletionSource _blocked = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _callIds;

    /// <summary>The messages of each call, in order.</summary>
    public IReadOnlyList<IReadOnlyList<ChatMessage>> Calls => [.. _calls];

    /// <summary>Completes when a <see cref="Block"/> step is reached.</summary>
    public Task Blocked => _blocked.Task;

    public ScriptedChatClient Answer(string text, long inputTokens = 100, long outputTokens = 10) =>
        Add(_ => Task.FromResult(Response(new ChatMessage(ChatRole.Assistant, text), inputTokens, outputTokens)));

    public ScriptedChatClient CallTool(string name, IDictionary<string, object?> arguments, long inputTokens = 100, long outputTokens = 10)
    {
        var id = "call_" + Interlocked.Increment(ref _callIds);
        return Add(_ => Task.FromResult(Response(new ChatMessage(ChatRole.Assistant, [new FunctionCallContent(id, name, arguments)]), inputTokens, outputTokens)));
    }

    public ScriptedChatClient Exec(string command, params string[] args) =>
        CallTool("exec", new Dictionary<string, object?> { ["command"] = command, ["args"] = args });

    /// <summary>A call that fails the way a provider does when its retries are spent.</summary>
    public ScriptedChatClient Fail(string message = "the endpoint answered 503 Service Unavailable") =>
        Add(_ => Task.FromException<ChatResponse>(new HttpRequestException(message)));

    /// <summary>A call that never answers: it waits until the run cancels it (a kill switch, say).</summary>
    public ScriptedChatClient Block() => Add(async cancellationToken =>
    {
        _blocked.TrySetResult();
        await new TaskCompletionSource().Task.WaitAsync(cancellationToken);
        throw new OperationCanceledException(cancellationToken);
    });

    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        _calls.Enqueue([.. messages]);
        return _steps.TryDequeue(out var step)
            ? step(cancellationToken)
            : throw new InvalidOperationException("the scripted model has no more steps");
    }

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("the scripted model answers whole responses only");

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }

    /// <summary>Every text the model was sent in tool results, in order.</summary>
    public IReadOnlyList<string> ToolResults() =>
        [.. (Calls.Count == 0 ? [] : Calls[^1]).SelectMany(m => m.Contents).OfType<FunctionResultContent>().Select(r => r.Result?.ToString() ?? "")];

    private ScriptedChatClient Add(Func<CancellationToken, Task<ChatResponse>> step)
    {
        _steps.Enqueue(step);
        return this;
    }

    private static ChatResponse Response(ChatMessage message, long input, long output) => new(message)
    {
        Usage = new UsageDetails { InputTokenCount = input, OutputTokenCount = output, TotalTokenCount = input + output },
        FinishReason = message.Contents.OfType<FunctionCallContent>().Any() ? ChatFinishReason.ToolCalls : ChatFinishReason.Stop,
    };
}

/// <summary>A catalog of one scripted model, <c>scripted/test</c> unless the run names another model of the endpoint.</summary>
internal sealed class ScriptedModelCatalog(ScriptedChatClient client, ModelPrice? price = null) : IModelCatalog
{
    public ModelBinding Resolve(string? modelReference) =>
        new("scripted", modelReference?.Split('/', 2) is [_, var model] ? model : "test", client, price);
}
