using Apiary.Agents;

namespace Apiary.Cli.Tests;

public sealed class AgentsPromptCommandTests : IDisposable
{
    private static readonly string[] Order = ["SOUL.md", "USER.md", "AGENTS.md", "MEMORY.md", "IDENTITY.md", "TOOLS.md", "BOOTSTRAP.md"];

    private readonly CliRunner _cli = new();

    public void Dispose() => _cli.Dispose();

    [Fact]
    public async Task Prompt_AgentWithEveryFile_SectionsInFixedOrder()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("agents", "prompt", "manager");

        Assert.Equal(0, result.ExitCode);
        var positions = Order.Select(f => result.Out.IndexOf(PromptComposer.SectionMarker(f) + "\n", StringComparison.Ordinal)).ToList();
        Assert.All(positions, p => Assert.True(p >= 0, $"a section marker is missing:\n{result.Out}"));
        Assert.Equal(positions.Order(), positions);
        Assert.StartsWith("=== SOUL ===\n", result.Out, StringComparison.Ordinal);
        foreach (var file in Order)
        {
            var marker = PromptComposer.SectionMarker(file);
            Assert.Equal(1, CountOf(result.Out, marker));
        }

        Assert.Contains("prompt: ", result.Error, StringComparison.Ordinal);
        Assert.Contains("from 7 of 7 files", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_EveryFilePresent_IsMarkedSectionsJoinedByBlankLines()
    {
        await _cli.InitAsync();
        foreach (var file in Order.Where(f => f != "AGENTS.md"))
        {
            _cli.WriteAgentFile("ordered", file, $"text of {file}\n");
        }

        _cli.WriteAgentFile("ordered", "AGENTS.md", "---\nrole: worker\n---\ntext of AGENTS.md\n");

        var result = await _cli.RunAsync("agents", "prompt", "ordered");

        Assert.Equal(0, result.ExitCode);
        var expected = string.Join("\n\n", Order.Select(f => $"{PromptComposer.SectionMarker(f)}\ntext of {f}"));
        Assert.Equal(expected, result.Out.TrimEnd('\n'));
    }

    [Fact]
    public async Task Prompt_SampleAgent_FrontmatterNeverInStdout()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("agents", "prompt", "coder");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("=== AGENTS ===\n# How the coder works", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("model:", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("local/qwen2.5-coder", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("tool_profile", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("allowed_recipients", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("---", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_MissingFiles_SkippedOnStderrWithReason()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("agents", "prompt", "coder");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("USER.md: skipped: no such file", result.ErrorLines);
        Assert.Contains("MEMORY.md: skipped: no such file", result.ErrorLines);
        Assert.Contains("IDENTITY.md: skipped: no such file", result.ErrorLines);
        Assert.DoesNotContain("=== USER ===", result.Out, StringComparison.Ordinal);
        Assert.Contains(result.ErrorLines, l => l.StartsWith("prompt: ", StringComparison.Ordinal) && l.EndsWith("from 4 of 7 files", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Prompt_BlankFile_SkippedWithReason()
    {
        await _cli.InitAsync();
        _cli.WriteAgentFile("coder", "USER.md", "  \n\n\t\n");

        var result = await _cli.RunAsync("agents", "prompt", "coder");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("USER.md: skipped: empty or only whitespace", result.ErrorLines);
        Assert.DoesNotContain("=== USER ===", result.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_SectionCharsBelowLongSoul_TruncatesMiddleKeepingStartAndEnd()
    {
        await _cli.InitAsync();
        var soul = "START-OF-SOUL " + string.Concat(Enumerable.Range(0, 200).Select(i => $"m{i:D3} ")) + "END-OF-SOUL";
        _cli.WriteAgentFile("coder", "SOUL.md", soul);

        var result = await _cli.RunAsync("agents", "prompt", "coder", "--section-chars", "300");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("=== SOUL ===\nSTART-OF-SOUL ", result.Out, StringComparison.Ordinal);
        Assert.Contains("END-OF-SOUL\n", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("m100 ", result.Out, StringComparison.Ordinal);
        Assert.Contains("[... truncated:", result.Out, StringComparison.Ordinal);
        Assert.Contains(result.ErrorLines, l => l.StartsWith($"SOUL.md: truncated: {soul.Length} characters exceed the section cap of 300", StringComparison.Ordinal));
        var soulSection = result.Out[..result.Out.IndexOf("\n\n=== AGENTS ===", StringComparison.Ordinal)];
        Assert.True(soulSection.Length - "=== SOUL ===\n".Length <= 300, $"the SOUL section is over the cap:\n{soulSection}");
    }

    [Fact]
    public async Task Prompt_DefaultCaps_LongSoulIsNotTruncated()
    {
        await _cli.InitAsync();
        var soul = "START " + new string('s', 5000) + " END";
        _cli.WriteAgentFile("coder", "SOUL.md", soul);

        var result = await _cli.RunAsync("agents", "prompt", "coder");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains(soul, result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("truncated", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_HomeConfigSectionCap_AppliesWithoutOption()
    {
        await _cli.InitAsync();
        await File.WriteAllTextAsync(Path.Combine(_cli.HomeRoot, "apiary.yaml"), "prompt:\n  section_chars: 400\n", TestContext.Current.CancellationToken);
        _cli.WriteAgentFile("coder", "SOUL.md", "START " + new string('s', 5000) + " END");

        var result = await _cli.RunAsync("agents", "prompt", "coder");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains(result.ErrorLines, l => l.StartsWith("SOUL.md: truncated:", StringComparison.Ordinal) && l.Contains("section cap of 400", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--section-chars", "100")]
    [InlineData("--section-chars", "255")]
    [InlineData("--total-chars", "100")]
    [InlineData("--section-chars", "-1")]
    public async Task Prompt_CapBelowMinimum_IsBadInput(string option, string value)
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("agents", "prompt", "coder", option, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{option} must be at least 256", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Prompt_CapAtMinimum_IsAccepted()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("agents", "prompt", "coder", "--section-chars", "256", "--total-chars", "256");

        Assert.Equal(0, result.ExitCode);
        Assert.True(result.Out.TrimEnd('\n').Length <= 256, $"the prompt is over the total cap:\n{result.Out}");
        Assert.Contains(result.ErrorLines, l => l.StartsWith("prompt: truncated: over the total cap of 256", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Prompt_CapNotANumber_IsBadInput()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("agents", "prompt", "coder", "--section-chars", "lots");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("lots", result.Error, StringComparison.Ordinal);
        Assert.Contains("apiary agents prompt --help", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_BrokenAgent_FailsWithFileLineColumn()
    {
        await _cli.InitAsync();
        var manifest = _cli.WriteAgentFile("coder", "AGENTS.md", AgentsListCommandTests.MalformedManifest);

        var result = await _cli.RunAsync("agents", "prompt", "coder");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Out);
        Assert.Contains($"{manifest}:3:9: error: malformed YAML", result.Error, StringComparison.Ordinal);
        Assert.Contains("agent 'coder' cannot be used", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_UnclosedFrontmatter_FailsWithFileLineColumn()
    {
        await _cli.InitAsync();
        var manifest = _cli.WriteAgentFile("coder", "AGENTS.md", "---\nrole: worker\n# never closed\n");

        var result = await _cli.RunAsync("agents", "prompt", "coder");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Out);
        Assert.Contains($"{manifest}:1:1: error:", result.Error, StringComparison.Ordinal);
        Assert.Contains("never closed", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_NonexistentAgent_IsBadInput_NamingTheAgentsThereWithoutPointingAtACommandThatNeedsAServer()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("agents", "prompt", "ghost");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("no agent named 'ghost'", result.Error, StringComparison.Ordinal);
        Assert.Contains("it has coder, manager", result.Error, StringComparison.Ordinal);

        // 'apiary agents list' asks the server, and none runs here: the hint must not send the user there.
        Assert.DoesNotContain("agents list", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_InvalidName_IsBadInput()
    {
        await _cli.InitAsync();

        var result = await _cli.RunAsync("agents", "prompt", "../coder");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("is not a valid agent name", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task Prompt_AfterBootstrapMarkedInAnotherRun_LeavesBootstrapOutAndSaysConsumed()
    {
        await _cli.InitAsync();
        var before = await _cli.RunAsync("agents", "prompt", "coder");
        Assert.Contains("=== BOOTSTRAP ===", before.Out, StringComparison.Ordinal);

        await BootstrapRecord.MarkAsync(_cli.AgentDirectory("coder"), "s-1", new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero), TestContext.Current.CancellationToken);
        var after = await _cli.RunAsync("agents", "prompt", "coder");

        Assert.Equal(0, after.ExitCode);
        Assert.DoesNotContain("=== BOOTSTRAP ===", after.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("This is your first session", after.Out, StringComparison.Ordinal);
        Assert.Contains("=== TOOLS ===", after.Out, StringComparison.Ordinal);
        Assert.Contains(after.ErrorLines, l => l.StartsWith("BOOTSTRAP.md: skipped: consumed", StringComparison.Ordinal) && l.Contains("s-1", StringComparison.Ordinal));
        Assert.Contains("from 3 of 7 files", after.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_BootstrapRecordReset_InjectsBootstrapAgain()
    {
        await _cli.InitAsync();
        await BootstrapRecord.MarkAsync(_cli.AgentDirectory("coder"), "s-1", DateTimeOffset.UnixEpoch, TestContext.Current.CancellationToken);
        Assert.True(BootstrapRecord.Reset(_cli.AgentDirectory("coder")));

        var result = await _cli.RunAsync("agents", "prompt", "coder");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("=== BOOTSTRAP ===", result.Out, StringComparison.Ordinal);
        Assert.DoesNotContain("consumed", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_CorruptBootstrapRecord_FailsNamingTheRecord()
    {
        await _cli.InitAsync();
        var record = _cli.WriteAgentFile("coder", BootstrapRecord.RelativePath, "{ not json");

        var result = await _cli.RunAsync("agents", "prompt", "coder");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Out);
        Assert.Contains(record, result.Error, StringComparison.Ordinal);
        Assert.Contains("corrupt", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prompt_Json_HasPromptAndEverySection()
    {
        await _cli.InitAsync();
        await BootstrapRecord.MarkAsync(_cli.AgentDirectory("coder"), "s-9", DateTimeOffset.UnixEpoch, TestContext.Current.CancellationToken);

        var result = await _cli.RunAsync("agents", "prompt", "coder", "--json", "--section-chars", "300");

        Assert.Equal(0, result.ExitCode);
        using var json = result.Json();
        var root = json.RootElement;
        Assert.Equal("coder", root.GetProperty("agent").GetString());
        var prompt = root.GetProperty("prompt").GetString()!;
        Assert.StartsWith("=== SOUL ===", prompt, StringComparison.Ordinal);
        Assert.Equal(prompt.Length, root.GetProperty("chars").GetInt32());
        Assert.Equal(300, root.GetProperty("section_chars").GetInt32());
        var sections = root.GetProperty("sections").EnumerateArray().ToList();
        Assert.Equal(Order, sections.Select(s => s.GetProperty("file").GetString()));
        var statuses = sections.ToDictionary(s => s.GetProperty("file").GetString()!, s => s.GetProperty("status").GetString());
        Assert.Equal("included", statuses["SOUL.md"]);
        Assert.Equal("skipped", statuses["USER.md"]);
        Assert.Equal("truncated", statuses["AGENTS.md"]);
        Assert.Equal("skipped", statuses["BOOTSTRAP.md"]);
        Assert.Contains("s-9", sections[6].GetProperty("reason").GetString(), StringComparison.Ordinal);
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}
