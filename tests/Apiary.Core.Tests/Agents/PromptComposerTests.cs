using Apiary.Agents;
using Apiary.Testing;

namespace Apiary.Tests.Agents;

public sealed class PromptComposerTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private Task<ComposedPrompt> Compose(string body = "", string? consumed = null, PromptOptions? options = null) =>
        PromptComposer.ComposeAsync(_dir.Path, body, consumed, options ?? PromptOptions.Default, TestContext.Current.CancellationToken);

    [Fact]
    public async Task Compose_AllFiles_FixedOrderUnderMarkers()
    {
        // Written in reverse order, so directory order cannot be what puts them right.
        _dir.Write("BOOTSTRAP.md", "bootstrap text");
        _dir.Write("TOOLS.md", "tools text");
        _dir.Write("IDENTITY.md", "identity text");
        _dir.Write("MEMORY.md", "memory text");
        _dir.Write("USER.md", "user text");
        _dir.Write("SOUL.md", "soul text");

        var prompt = await Compose("agents body");

        Assert.Equal(
            "=== SOUL ===\nsoul text\n\n=== USER ===\nuser text\n\n=== AGENTS ===\nagents body\n\n=== MEMORY ===\nmemory text\n\n" +
            "=== IDENTITY ===\nidentity text\n\n=== TOOLS ===\ntools text\n\n=== BOOTSTRAP ===\nbootstrap text",
            prompt.Text);
        Assert.All(prompt.Sections, s => Assert.Equal(SectionStatus.Included, s.Status));
        Assert.Equal(PromptComposer.Files, prompt.Sections.Select(s => s.File));
    }

    [Fact]
    public async Task Compose_MissingAndWhitespaceOnlyFiles_SkippedWithReasons()
    {
        _dir.Write("SOUL.md", "soul");
        _dir.Write("USER.md", "  \n\t\n  ");
        var prompt = await Compose("   ");

        Assert.Equal("=== SOUL ===\nsoul", prompt.Text);
        var user = prompt.Sections.Single(s => s.File == "USER.md");
        Assert.Equal((SectionStatus.Skipped, "empty or only whitespace"), (user.Status, user.Reason));
        Assert.Equal("no such file", prompt.Sections.Single(s => s.File == "MEMORY.md").Reason);
        Assert.Equal(SectionStatus.Skipped, prompt.Sections.Single(s => s.File == "AGENTS.md").Status);
        Assert.Empty(prompt.Warnings);
    }

    [Fact]
    public async Task Compose_FileOverOneMebibyte_SkippedWithWarning()
    {
        _dir.Write("SOUL.md", "soul");
        _dir.Write("MEMORY.md", new string('m', (1024 * 1024) + 1));
        var prompt = await Compose();

        Assert.DoesNotContain("mmmm", prompt.Text, StringComparison.Ordinal);
        var memory = prompt.Sections.Single(s => s.File == "MEMORY.md");
        Assert.Equal(SectionStatus.Skipped, memory.Status);
        Assert.Contains("1048577 bytes is over the limit of 1048576", memory.Reason, StringComparison.Ordinal);
        var warning = Assert.Single(prompt.Warnings);
        Assert.Equal(_dir["MEMORY.md"], warning.File);
    }

    [Fact]
    public async Task Compose_FileOfExactlyOneMebibyte_IsRead()
    {
        _dir.Write("MEMORY.md", new string('m', 1024 * 1024));
        var prompt = await Compose();
        Assert.Equal(SectionStatus.Truncated, prompt.Sections.Single(s => s.File == "MEMORY.md").Status);
    }

    [Fact]
    public async Task Compose_SectionOverCap_KeepsHeadAndTailAndReports()
    {
        var soul = "SOUL-START " + new string('s', 30_000) + " SOUL-END";
        _dir.Write("SOUL.md", soul);
        _dir.Write("TOOLS.md", "tools");
        var prompt = await Compose();

        var section = prompt.Sections.Single(s => s.File == "SOUL.md");
        Assert.Equal(SectionStatus.Truncated, section.Status);
        Assert.Equal(soul.Length, section.OriginalChars);
        Assert.True(section.IncludedChars <= PromptOptions.Default.SectionChars);
        Assert.Contains("SOUL-START", prompt.Text, StringComparison.Ordinal);
        Assert.Contains("SOUL-END", prompt.Text, StringComparison.Ordinal);
        Assert.Contains("characters of SOUL.md left out", prompt.Text, StringComparison.Ordinal);
        Assert.EndsWith("=== TOOLS ===\ntools", prompt.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compose_WholePromptOverTotalCap_CappedWithMarker()
    {
        foreach (var file in new[] { "SOUL.md", "USER.md", "MEMORY.md", "TOOLS.md" })
        {
            _dir.Write(file, $"{file}-first " + new string('x', 5_000) + $" {file}-last");
        }

        var options = new PromptOptions { SectionChars = 10_000, TotalChars = 8_000 };
        var prompt = await Compose(options: options);

        Assert.True(prompt.Text.Length <= 8_000);
        Assert.True(prompt.TotalOmittedChars > 0);
        Assert.StartsWith("=== SOUL ===\nSOUL.md-first", prompt.Text, StringComparison.Ordinal);
        Assert.EndsWith("TOOLS.md-last", prompt.Text, StringComparison.Ordinal);
        Assert.Contains("characters of the prompt left out", prompt.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compose_BootstrapConsumed_LeftOutWithTheReason()
    {
        _dir.Write("BOOTSTRAP.md", "first run only");
        var prompt = await Compose("body", consumed: "consumed after session s-1");

        Assert.DoesNotContain("first run only", prompt.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("=== BOOTSTRAP ===", prompt.Text, StringComparison.Ordinal);
        Assert.Equal("consumed after session s-1", prompt.Sections.Single(s => s.File == "BOOTSTRAP.md").Reason);
    }

    [Fact]
    public async Task Compose_AgentsSection_UsesTheBodyNotTheFile()
    {
        _dir.Write("AGENTS.md", "---\nmodel: hidden/model\n---\nfile body");
        var prompt = await Compose("given body");

        Assert.Contains("=== AGENTS ===\ngiven body", prompt.Text, StringComparison.Ordinal);
        Assert.DoesNotContain("hidden/model", prompt.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Compose_FolderInPlaceOfAFile_SkippedWithWarning()
    {
        _dir.CreateDirectory("USER.md");
        var prompt = await Compose("body");
        Assert.Equal(SectionStatus.Skipped, prompt.Sections.Single(s => s.File == "USER.md").Status);
        Assert.Single(prompt.Warnings);
    }

    [Fact]
    public async Task Compose_CapsBelowMinimum_Rejected() =>
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => Compose(options: new PromptOptions { SectionChars = 10 }));
}
