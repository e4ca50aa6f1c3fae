using Apiary.Text;

namespace Apiary.Agents;

/// <summary>Limits on composing an agent's system prompt.</summary>
public sealed record PromptOptions
{
    /// <summary>The smallest cap accepted for a section or the whole prompt.</summary>
    public const int MinimumCap = HeadTailTruncation.MinimumCap;

    /// <summary>Default options: 20,000 characters a section, 60,000 in all, files up to 1 MiB.</summary>
    public static PromptOptions Default { get; } = new();

    /// <summary>The most characters one section (one file) may contribute. Default 20,000.</summary>
    public int SectionChars { get; init; } = 20_000;

    /// <summary>The most characters the whole prompt may have. Default 60,000.</summary>
    public int TotalChars { get; init; } = 60_000;

    /// <summary>Files larger than this many bytes are skipped with a warning rather than read. Default 1 MiB.</summary>
    public long MaxFileBytes { get; init; } = 1024 * 1024;

    /// <summary>Throws when a cap is below <see cref="MinimumCap"/> or the file limit is not positive.</summary>
    public PromptOptions Validate()
    {
        if (SectionChars < MinimumCap || TotalChars < MinimumCap)
        {
            throw new ArgumentOutOfRangeException(nameof(SectionChars), $"prompt caps must be at least {MinimumCap} characters (section {SectionChars}, total {TotalChars})");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(MaxFileBytes, 1);
        return this;
    }
}
