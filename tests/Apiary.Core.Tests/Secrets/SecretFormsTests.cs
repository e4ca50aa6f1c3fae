using System.Text;
using System.Text.Json;
using Apiary.Events;
using Apiary.Secrets;
using FsCheck;
using FsCheck.Fluent;

namespace Apiary.Tests.Secrets;

public sealed class SecretFormsTests
{
    private const string Value = "tok-Sup3r/Secret+Value=991";

    [Fact]
    public void Base64OfTheValueInsideAnyText_HoldsOneOfItsForms()
    {
        var bytes = ArbMap.Default.GeneratorFor<byte[]>().Where(b => b is not null && b.Length < 40);
        var forms = SecretForms.Of(Value);
        Prop.ForAll(Gen.Zip(bytes, bytes).ToArbitrary(), pair =>
        {
            var (before, after) = pair;
            var encoded = Convert.ToBase64String([.. before, .. Encoding.UTF8.GetBytes(Value), .. after]);
            return forms.Any(form => encoded.Contains(form, StringComparison.Ordinal))
                && forms.Any(form => encoded.Replace('+', '-').Replace('/', '_').Contains(form, StringComparison.Ordinal));
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void Of_TheOtherEncodings_AllThere()
    {
        var forms = SecretForms.Of(Value);
        var bytes = Encoding.UTF8.GetBytes(Value);

        Assert.Equal(Value, forms[0]);
        Assert.Contains(Convert.ToHexStringLower(bytes), forms);
        Assert.Contains(Convert.ToHexString(bytes), forms);
        Assert.Contains(Uri.EscapeDataString(Value), forms);
        Assert.Contains(new string(Value.Reverse().ToArray()), forms);
        Assert.All(forms.Skip(1), f => Assert.True(f.Length >= SecretForms.MinEncodedLength));
    }

    [Fact]
    public void Redactor_ReplacesEveryFormWithTheName()
    {
        var redactor = new SecretRedactor([new("API_TOKEN", Value)]);
        var text = $"raw {Value} hex {Convert.ToHexStringLower(Encoding.UTF8.GetBytes(Value))} reversed {new string(Value.Reverse().ToArray())}";

        var redacted = redactor.Redact(text);

        Assert.Equal("raw [secret:API_TOKEN] hex [secret:API_TOKEN] reversed [secret:API_TOKEN]", redacted);
        Assert.Equal("API_TOKEN", redactor.Find(text));
        Assert.Null(redactor.Find("nothing here"));
    }

    [Fact]
    public void EventRedaction_JsonWithEscapedCharacters_StillRedacted()
    {
        var redaction = new EventRedaction(() => new SecretRedactor([new("API_TOKEN", Value)]));

        // System.Text.Json writes '+' as \u002B: a plain search of the bytes would miss the value.
        var data = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string[]> { ["args"] = ["echo", Value] });
        Assert.DoesNotContain(Value, Encoding.UTF8.GetString(data), StringComparison.Ordinal);
        var body = Encoding.UTF8.GetBytes("output: " + Value);

        var redacted = redaction.Redact(new EventData("x", data, body));

        using var json = JsonDocument.Parse(redacted.Data);
        Assert.Equal("[secret:API_TOKEN]", json.RootElement.GetProperty("args")[1].GetString());
        Assert.Equal("output: [secret:API_TOKEN]", Encoding.UTF8.GetString(redacted.Body!.Value.Span));
    }

    [Fact]
    public void EventRedaction_NothingSecret_SameEventBack()
    {
        var redaction = new EventRedaction(() => new SecretRedactor([new("API_TOKEN", Value)]));
        var e = new EventData("x", Encoding.UTF8.GetBytes("{\"a\":\"b\\n\"}"), Encoding.UTF8.GetBytes("plain"));

        Assert.Same(e, redaction.Redact(e));
    }
}
