using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Apiary.Testing;

// The Anthropic messages wire format: https://docs.anthropic.com/en/api/messages and .../messages-streaming
public sealed partial class ScriptedModelServer
{
    private async Task AnthropicAsync(HttpContext context)
    {
        var cancellationToken = context.RequestAborted;
        var body = await ReadBodyAsync(context.Request, cancellationToken).ConfigureAwait(false);
        var model = body["model"]?.GetValue<string>() ?? "";
        var stream = body["stream"]?.GetValue<bool>() ?? false;
        Record(new RecordedModelRequest(
            "anthropic", context.Request.Path, model, stream, HeadersOf(context.Request),
            System: body["system"] is { } system ? TextOf(system) : null,
            Messages: ReadAnthropicMessages(body),
            ToolNames: [.. (body["tools"]?.AsArray() ?? []).Select(t => t?["name"]?.GetValue<string>() ?? "")],
            body));

        if (await TryFailAsync(context.Response, "anthropic", cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        if (NextReply() is not { } reply)
        {
            context.Response.StatusCode = 400;
            await WriteErrorAsync(context.Response, "anthropic", "the scripted model server has no reply left", cancellationToken).ConfigureAwait(false);
            return;
        }

        if (reply.Gate is { } gate)
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        var id = NextId("msg_");
        var calls = reply.ToolCalls.Select(c => c with { Id = c.Id ?? NextId("toolu_") }).ToList();
        var stop = calls.Count > 0 ? "tool_use" : "end_turn";

        if (!stream)
        {
            var content = new JsonArray();
            if (!string.IsNullOrEmpty(reply.Text))
            {
                content.Add(new JsonObject { ["type"] = "text", ["text"] = reply.Text });
            }

            foreach (var call in calls)
            {
                content.Add(new JsonObject { ["type"] = "tool_use", ["id"] = call.Id, ["name"] = call.Name, ["input"] = JsonNode.Parse(call.ArgumentsJson) });
            }

            var message = new JsonObject
            {
                ["id"] = id,
                ["type"] = "message",
                ["role"] = "assistant",
                ["model"] = model,
                ["content"] = content,
                ["stop_reason"] = stop,
                ["stop_sequence"] = null,
                ["usage"] = new JsonObject { ["input_tokens"] = reply.InputTokens, ["output_tokens"] = reply.OutputTokens },
            };
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(message.ToJsonString(Compact), cancellationToken).ConfigureAwait(false);
            return;
        }

        StartSse(context.Response);
        var response = context.Response;
        await WriteSseAsync(response, "message_start", new JsonObject
        {
            ["type"] = "message_start",
            ["message"] = new JsonObject
            {
                ["id"] = id,
                ["type"] = "message",
                ["role"] = "assistant",
                ["model"] = model,
                ["content"] = new JsonArray(),
                ["stop_reason"] = null,
                ["stop_sequence"] = null,
                ["usage"] = new JsonObject { ["input_tokens"] = reply.InputTokens, ["output_tokens"] = 1 },
            },
        }, cancellationToken).ConfigureAwait(false);

        var index = 0;
        if (!string.IsNullOrEmpty(reply.Text))
        {
            await WriteSseAsync(response, "content_block_start", new JsonObject
            {
                ["type"] = "content_block_start",
                ["index"] = index,
                ["content_block"] = new JsonObject { ["type"] = "text", ["text"] = "" },
            }, cancellationToken).ConfigureAwait(false);
            foreach (var piece in Pieces(reply.Text, 4))
            {
                await WriteSseAsync(response, "content_block_delta", new JsonObject
                {
                    ["type"] = "content_block_delta",
                    ["index"] = index,
                    ["delta"] = new JsonObject { ["type"] = "text_delta", ["text"] = piece },
                }, cancellationToken).ConfigureAwait(false);
            }

            await WriteSseAsync(response, "content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = index }, cancellationToken).ConfigureAwait(false);
            index++;
        }

        foreach (var call in calls)
        {
            await WriteSseAsync(response, "content_block_start", new JsonObject
            {
                ["type"] = "content_block_start",
                ["index"] = index,
                ["content_block"] = new JsonObject { ["type"] = "tool_use", ["id"] = call.Id, ["name"] = call.Name, ["input"] = new JsonObject() },
            }, cancellationToken).ConfigureAwait(false);
            foreach (var piece in Pieces(call.ArgumentsJson))
            {
                await WriteSseAsync(response, "content_block_delta", new JsonObject
                {
                    ["type"] = "content_block_delta",
                    ["index"] = index,
                    ["delta"] = new JsonObject { ["type"] = "input_json_delta", ["partial_json"] = piece },
                }, cancellationToken).ConfigureAwait(false);
            }

            await WriteSseAsync(response, "content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = index }, cancellationToken).ConfigureAwait(false);
            index++;
        }

        await WriteSseAsync(response, "message_delta", new JsonObject
        {
            ["type"] = "message_delta",
            ["delta"] = new JsonObject { ["stop_reason"] = stop, ["stop_sequence"] = null },
            ["usage"] = new JsonObject { ["output_tokens"] = reply.OutputTokens },
        }, cancellationToken).ConfigureAwait(false);
        await WriteSseAsync(response, "message_stop", new JsonObject { ["type"] = "message_stop" }, cancellationToken).ConfigureAwait(false);
    }

    private static List<RecordedMessage> ReadAnthropicMessages(JsonObject body)
    {
        var messages = new List<RecordedMessage>();
        foreach (var message in body["messages"]?.AsArray() ?? [])
        {
            var role = message?["role"]?.GetValue<string>() ?? "";
            var content = message?["content"];
            var blocks = content as JsonArray ?? [];
            var calls = blocks.Where(b => b?["type"]?.GetValue<string>() == "tool_use")
                .Select(b => new RecordedToolCall(b!["id"]?.GetValue<string>() ?? "", b["name"]?.GetValue<string>() ?? "", b["input"]?.ToJsonString() ?? "{}"))
                .ToList();
            var results = blocks.Where(b => b?["type"]?.GetValue<string>() == "tool_result")
                .Select(b => new RecordedToolResult(b!["tool_use_id"]?.GetValue<string>() ?? "", TextOf(b["content"])))
                .ToList();
            messages.Add(new RecordedMessage(role, TextOf(content), calls, results));
        }

        return messages;
    }
}
