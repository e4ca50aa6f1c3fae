using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Apiary.Testing;

// The OpenAI chat-completions wire format: https://platform.openai.com/docs/api-reference/chat
public sealed partial class ScriptedModelServer
{
    private async Task OpenAIAsync(HttpContext context)
    {
        var cancellationToken = context.RequestAborted;
        var body = await ReadBodyAsync(context.Request, cancellationToken).ConfigureAwait(false);
        var model = body["model"]?.GetValue<string>() ?? "";
        var stream = body["stream"]?.GetValue<bool>() ?? false;
        Record(new RecordedModelRequest(
            "openai", context.Request.Path, model, stream, HeadersOf(context.Request),
            System: string.Join("\n", (body["messages"]?.AsArray() ?? []).Where(m => m?["role"]?.GetValue<string>() is "system" or "developer").Select(m => TextOf(m!["content"]))),
            Messages: ReadOpenAIMessages(body),
            ToolNames: [.. (body["tools"]?.AsArray() ?? []).Select(t => t?["function"]?["name"]?.GetValue<string>() ?? "")],
            body));

        if (await TryFailAsync(context.Response, "openai", cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        if (NextReply() is not { } reply)
        {
            context.Response.StatusCode = 400;
            await WriteErrorAsync(context.Response, "openai", "the scripted model server has no reply left", cancellationToken).ConfigureAwait(false);
            return;
        }

        if (reply.Gate is { } gate)
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        var id = NextId("chatcmpl-");
        var created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var calls = reply.ToolCalls.Select(c => c with { Id = c.Id ?? NextId("call_") }).ToList();
        var finish = calls.Count > 0 ? "tool_calls" : "stop";
        var usage = new JsonObject
        {
            ["prompt_tokens"] = reply.InputTokens,
            ["completion_tokens"] = reply.OutputTokens,
            ["total_tokens"] = reply.InputTokens + reply.OutputTokens,
        };

        if (!stream)
        {
            var message = new JsonObject { ["role"] = "assistant", ["content"] = reply.Text };
            if (calls.Count > 0)
            {
                message["tool_calls"] = new JsonArray([.. calls.Select(c => (JsonNode)new JsonObject
                {
                    ["id"] = c.Id,
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = c.Name, ["arguments"] = c.ArgumentsJson },
                })]);
            }

            var completion = new JsonObject
            {
                ["id"] = id,
                ["object"] = "chat.completion",
                ["created"] = created,
                ["model"] = model,
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["logprobs"] = null, ["finish_reason"] = finish }),
                ["usage"] = usage,
            };
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(completion.ToJsonString(Compact), cancellationToken).ConfigureAwait(false);
            return;
        }

        StartSse(context.Response);
        JsonObject Chunk(JsonObject delta, string? finishReason = null) => new()
        {
            ["id"] = id,
            ["object"] = "chat.completion.chunk",
            ["created"] = created,
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["logprobs"] = null, ["finish_reason"] = finishReason }),
        };

        await WriteSseAsync(context.Response, null, Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }), cancellationToken).ConfigureAwait(false);
        foreach (var piece in Pieces(reply.Text ?? "", 4))
        {
            await WriteSseAsync(context.Response, null, Chunk(new JsonObject { ["content"] = piece }), cancellationToken).ConfigureAwait(false);
        }

        for (var index = 0; index < calls.Count; index++)
        {
            var call = calls[index];
            await WriteSseAsync(context.Response, null, Chunk(new JsonObject
            {
                ["tool_calls"] = new JsonArray(new JsonObject
                {
                    ["index"] = index,
                    ["id"] = call.Id,
                    ["type"] = "function",
                    ["function"] = new JsonObject { ["name"] = call.Name, ["arguments"] = "" },
                }),
            }), cancellationToken).ConfigureAwait(false);
            foreach (var piece in Pieces(call.ArgumentsJson))
            {
                await WriteSseAsync(context.Response, null, Chunk(new JsonObject
                {
                    ["tool_calls"] = new JsonArray(new JsonObject { ["index"] = index, ["function"] = new JsonObject { ["arguments"] = piece } }),
                }), cancellationToken).ConfigureAwait(false);
            }
        }

        await WriteSseAsync(context.Response, null, Chunk(new JsonObject(), finish), cancellationToken).ConfigureAwait(false);
        if (body["stream_options"]?["include_usage"]?.GetValue<bool>() == true)
        {
            await WriteSseAsync(context.Response, null, new JsonObject
            {
                ["id"] = id,
                ["object"] = "chat.completion.chunk",
                ["created"] = created,
                ["model"] = model,
                ["choices"] = new JsonArray(),
                ["usage"] = usage,
            }, cancellationToken).ConfigureAwait(false);
        }

        await context.Response.WriteAsync("data: [DONE]\n\n", cancellationToken).ConfigureAwait(false);
    }

    private static List<RecordedMessage> ReadOpenAIMessages(JsonObject body)
    {
        var messages = new List<RecordedMessage>();
        foreach (var message in body["messages"]?.AsArray() ?? [])
        {
            var role = message?["role"]?.GetValue<string>() ?? "";
            var calls = (message?["tool_calls"]?.AsArray() ?? []).Select(c => new RecordedToolCall(
                c?["id"]?.GetValue<string>() ?? "", c?["function"]?["name"]?.GetValue<string>() ?? "", c?["function"]?["arguments"]?.GetValue<string>() ?? "")).ToList();
            var results = role == "tool"
                ? [new RecordedToolResult(message?["tool_call_id"]?.GetValue<string>() ?? "", TextOf(message?["content"]))]
                : new List<RecordedToolResult>();
            messages.Add(new RecordedMessage(role, role == "tool" ? "" : TextOf(message?["content"]), calls, results));
        }

        return messages;
    }
}
