namespace Apiary.Cli.Tests;

/// <summary>A writer that completes <see cref="Seen"/> with the first line containing a text, as soon as it is written.</summary>
internal sealed class LineSignal(string text) : StringWriter
{
    private readonly TaskCompletionSource<string> _seen = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<string> Seen => _seen.Task;

    public override void Write(char value)
    {
        base.Write(value);
        Check();
    }

    public override void Write(string? value)
    {
        base.Write(value);
        Check();
    }

    public override Task WriteAsync(string? value)
    {
        base.Write(value);
        Check();
        return Task.CompletedTask;
    }

    public override void WriteLine(string? value)
    {
        base.WriteLine(value);
        Check();
    }

    public override Task WriteLineAsync(string? value)
    {
        base.WriteLine(value);
        Check();
        return Task.CompletedTask;
    }

    private void Check()
    {
        if (_seen.Task.IsCompleted)
        {
            return;
        }

        // Whole lines only: a line is seen once it ends.
        foreach (var line in ToString().Split('\n').SkipLast(1))
        {
            if (line.Contains(text, StringComparison.Ordinal))
            {
                _seen.TrySetResult(line);
                return;
            }
        }
    }
}
