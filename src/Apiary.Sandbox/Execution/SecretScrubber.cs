using System.Text;
using Apiary.Secrets;

namespace Apiary.Sandbox.Execution;

/// <summary>
/// Replaces secret values with <c>[secret:NAME]</c> in a stream of output chunks, in every form
/// <see cref="SecretForms"/> knows (the value, base64, base64url, hex, URL encoding, reversed), including values split
/// across chunks: it holds back the last few bytes of each chunk until it knows they do not start one.
/// </summary>
internal sealed class SecretScrubber
{
    private readonly (byte[] Value, byte[] Replacement)[] _secrets;
    private readonly bool[] _starts = new bool[256];
    private readonly int _hold;
    private byte[] _pending = [];

    public SecretScrubber(IEnumerable<KeyValuePair<string, string>> secrets)
    {
        // Longest first, so a form that contains another is replaced whole.
        _secrets = secrets
            .Where(s => s.Value.Length > 0)
            .SelectMany(s => SecretForms.Of(s.Value).Select(form => (Encoding.UTF8.GetBytes(form), Encoding.UTF8.GetBytes($"[secret:{s.Key}]"))))
            .OrderByDescending(s => s.Item1.Length)
            .ToArray();
        foreach (var (value, _) in _secrets)
        {
            _starts[value[0]] = true;
        }

        _hold = _secrets.Length == 0 ? 0 : _secrets[0].Value.Length - 1;
    }

    /// <summary>True when there is nothing to scrub, so output can pass through untouched.</summary>
    public bool IsEmpty => _secrets.Length == 0;

    /// <summary>Scrubs a chunk; returns what is safe to pass on now (possibly nothing).</summary>
    public byte[] Push(ReadOnlySpan<byte> chunk)
    {
        if (IsEmpty)
        {
            return chunk.ToArray();
        }

        var buffer = new byte[_pending.Length + chunk.Length];
        _pending.CopyTo(buffer, 0);
        chunk.CopyTo(buffer.AsSpan(_pending.Length));
        return Scan(buffer, final: false);
    }

    /// <summary>Scrubs and returns whatever was held back, at the end of the stream.</summary>
    public byte[] Flush() => IsEmpty ? [] : Scan(_pending, final: true);

    /// <summary>Scrubs a whole text at once.</summary>
    public string Scrub(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var result = Scan(bytes, final: true);
        return Encoding.UTF8.GetString(result);
    }

    private byte[] Scan(byte[] buffer, bool final)
    {
        var output = new MemoryStream(buffer.Length);
        var i = 0;
        while (i < buffer.Length)
        {
            // Near the end of what has arrived, a longer secret may be cut off here: wait for the rest before
            // replacing a shorter one it starts with (or passing its first bytes on).
            if (!final && buffer.Length - i <= _hold && CouldStartSecret(buffer.AsSpan(i)))
            {
                break;
            }

            var replaced = false;
            foreach (var (value, replacement) in _starts[buffer[i]] ? _secrets : [])
            {
                if (buffer.AsSpan(i).StartsWith(value))
                {
                    output.Write(replacement);
                    i += value.Length;
                    replaced = true;
                    break;
                }
            }

            if (!replaced)
            {
                output.WriteByte(buffer[i]);
                i++;
            }
        }

        _pending = final ? [] : buffer[i..];
        return output.ToArray();
    }

    private bool CouldStartSecret(ReadOnlySpan<byte> tail)
    {
        foreach (var (value, _) in _secrets)
        {
            if (value.Length > tail.Length && value.AsSpan().StartsWith(tail))
            {
                return true;
            }
        }

        return false;
    }
}
