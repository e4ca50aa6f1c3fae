using System.Text;

namespace Apiary.Secrets;

/// <summary>
/// The forms a secret's value is looked for in, wherever output or a record could carry it: the value itself, and the
/// common encodings a command can turn it into with one standard tool (base64 and base64url at each of the three byte
/// alignments it can have inside a longer encoded text, with and without padding; lowercase and uppercase hex; URL
/// encoding; the value reversed). A command that is given a secret can always leak it in some other form (one
/// character per line, XOR, its own cipher): scrubbing catches accidents and the easy forms, not a determined command;
/// giving a command a secret is the decision that matters, and it is governed.
/// </summary>
public static class SecretForms
{
    /// <summary>Encoded forms shorter than this are not looked for: they would match ordinary text.</summary>
    public const int MinEncodedLength = 8;

    /// <summary>Every form of <paramref name="value"/>, the value first; empty for an empty value.</summary>
    public static IReadOnlyList<string> Of(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (value.Length == 0)
        {
            return [];
        }

        var bytes = Encoding.UTF8.GetBytes(value);
        var forms = new List<string> { value };
        void Add(string form)
        {
            if (form.Length >= MinEncodedLength && !forms.Contains(form, StringComparer.Ordinal))
            {
                forms.Add(form);
            }
        }

        foreach (var core in Base64Cores(bytes))
        {
            Add(core);
            Add(core.Replace('+', '-').Replace('/', '_'));
        }

        var padded = Convert.ToBase64String(bytes);
        Add(padded);
        Add(padded.Replace('+', '-').Replace('/', '_'));
        Add(Convert.ToHexStringLower(bytes));
        Add(Convert.ToHexString(bytes));
        Add(Uri.EscapeDataString(value));
        var reversed = value.ToCharArray();
        Array.Reverse(reversed);
        Add(new string(reversed));
        return forms;
    }

    /// <summary>
    /// The base64 characters that depend on the value's bytes alone, when the value starts 0, 1 or 2 bytes into what
    /// is encoded: whatever comes before or after it in a longer text, these characters appear.
    /// </summary>
    private static IEnumerable<string> Base64Cores(byte[] value)
    {
        for (var offset = 0; offset < 3; offset++)
        {
            var shifted = new byte[offset + value.Length];
            value.CopyTo(shifted, offset);
            var text = Convert.ToBase64String(shifted).TrimEnd('=');

            // Character i holds bits 6i to 6i+5; the value's bits are 8*offset to 8*(offset+length)-1.
            var first = (8 * offset + 5) / 6;
            var last = (8 * (offset + value.Length) / 6) - 1;
            if (last >= first)
            {
                yield return text[first..(last + 1)];
            }
        }
    }
}
