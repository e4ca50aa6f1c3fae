namespace Apiary.Cli.Tests;

/// <summary>A stderr that completes <see cref="Seen"/> with the first line containing a text, as soon as it is written.</summary>
internal sealed class LineSignal(string text) : StringWriter
{
    private readonly TaskCompletionSource<string> _seen = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<string> Seen => _seen.Task;

    public override void WriteLine(string? value)
    {
        base.WriteLine(value);
        Check(value);
    }

    public override Task WriteLineAsync(string? value)
    {
        base.WriteLine(value);
        Check(value);
        return Task.CompletedTask;
    }

    private void Check(string? value)
    {
        if (value is not null && value.Contains(text, StringComparison.Ordinal))
        {
            _seen.TrySetResult(value);
        }
    }
}
