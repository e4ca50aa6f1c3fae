using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Apiary.Protocol;

namespace Apiary.Tests.Protocol;

/// <summary>docs/protocol.md is what implementers of other backends read: its examples must be what Apiary speaks.</summary>
public sealed partial class ProtocolDocsTests
{
    [Fact]
    public void Examples_EveryJsonBlock_RoundTripsUnchanged()
    {
        var examples = Examples();
        Assert.NotEmpty(examples);
        foreach (var (line, json) in examples)
        {
            var original = JsonNode.Parse(json);
            var type = original?["type"]?.GetValue<string>();
            Assert.True(type is not null, $"protocol.md line {line}: the example has no string 'type'");

            string written;
            if (FrameCodec.CommandTypes.Contains(type))
            {
                var result = FrameCodec.DeserializeCommand(json);
                Assert.True(result.IsMessage, $"protocol.md line {line}: {result.Failure?.Message}");
                written = FrameCodec.Serialize(result.Message);
            }
            else
            {
                Assert.True(FrameCodec.ObservationTypes.Contains(type), $"protocol.md line {line}: '{type}' is neither a command nor an observation");
                var result = FrameCodec.DeserializeObservation(json);
                Assert.True(result.IsMessage, $"protocol.md line {line}: {result.Failure?.Message}");
                written = FrameCodec.Serialize(result.Message);
            }

            var rewritten = JsonNode.Parse(written);
            Assert.True(
                JsonNode.DeepEquals(original, rewritten),
                $"protocol.md line {line}: the serializer writes\n{written}\nbut the example says\n{json}");

            // Same fields in the same order, as the serializer writes them (only whitespace and escaping may differ).
            Assert.Equal(rewritten!.ToJsonString(), original!.ToJsonString());
        }
    }

    [Fact]
    public void Examples_EveryCommandAndObservationType_HasOne()
    {
        var documented = Examples()
            .Select(e => JsonNode.Parse(e.Json)?["type"]?.GetValue<string>())
            .OfType<string>()
            .ToHashSet(StringComparer.Ordinal);

        var missing = ProtocolTestData.ConcreteTypesOf<Command>()
            .Concat(ProtocolTestData.ConcreteTypesOf<Observation>())
            .Select(t => (Type: t, Name: WireName(t)))
            .Where(t => !documented.Contains(t.Name))
            .Select(t => $"{t.Type.Name} ('{t.Name}')")
            .ToList();

        Assert.True(missing.Count == 0, $"protocol.md has no ```json example of: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Document_CompletionReasonsAndCodecErrorCodes_AreAllNamed()
    {
        var text = File.ReadAllText(DocPath());
        string[] names =
        [
            "exited", "timed_out", "cancelled", "output_limit",
            ProtocolErrorCodes.BadFrame, ProtocolErrorCodes.FrameTooLarge, ProtocolErrorCodes.UnknownType,
            .. typeof(ProtocolErrorCodes).GetFields().Select(f => (string)f.GetRawConstantValue()!),
        ];
        Assert.All(names, name => Assert.Contains($"`{name}`", text, StringComparison.Ordinal));
    }

    private static string WireName(Type type)
    {
        var baseType = type.IsSubclassOf(typeof(Command)) ? typeof(Command) : typeof(Observation);
        var attribute = baseType.GetCustomAttributes<JsonDerivedTypeAttribute>().SingleOrDefault(a => a.DerivedType == type);
        Assert.True(attribute is not null, $"{type.Name} has no [JsonDerivedType] on {baseType.Name}, so it cannot be sent");
        return (string)attribute.TypeDiscriminator!;
    }

    private static List<(int Line, string Json)> Examples()
    {
        var text = File.ReadAllText(DocPath()).ReplaceLineEndings("\n");
        return [.. JsonBlock().Matches(text).Select(m => (text.AsSpan(0, m.Index).Count('\n') + 1, m.Groups["json"].Value))];
    }

    private static string DocPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Apiary.slnx")))
            {
                return Path.Combine(dir.FullName, "docs", "protocol.md");
            }
        }

        throw new InvalidOperationException($"No Apiary.slnx above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"^```json[ \t]*\n(?<json>.*?)\n```[ \t]*$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex JsonBlock();
}
