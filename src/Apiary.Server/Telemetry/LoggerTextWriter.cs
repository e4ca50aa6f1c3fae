using System.Text;
using Microsoft.Extensions.Logging;

namespace Apiary.Server.Telemetry;

/// <summary>
/// A writer whose every line becomes a warning of <paramref name="logger"/> (event 6002). The runtime is handed it as its
/// <c>RuntimeOptions.Warnings</c>, so the warnings it still writes as text reach the server's logging until each has a
/// <c>RuntimeLog</c> method. The <c>apiary: </c>, <c>warning: </c> and <c>WARNING: </c> prefixes are left out: the log
/// level says as much.
/// </summary>
internal sealed class LoggerTextWriter(ILogger logger) : TextWriter
{
    private readonly StringBuilder _line = new();
    private readonly Lock _gate = new();

    public override Encoding Encoding => Encoding.UTF8;

    public override void Write(char value)
    {
        lock (_gate)
        {
            if (value == '\n')
            {
                Emit();
            }
            else if (value != '\r')
            {
                _line.Append(value);
            }
        }
    }

    public override void Write(string? value)
    {
        foreach (var c in value ?? "")
        {
            Write(c);
        }
    }

    public override void WriteLine(string? value)
    {
        lock (_gate)
        {
            Write(value);
            Emit();
        }
    }

    public override Task WriteLineAsync(string? value)
    {
        WriteLine(value);
        return Task.CompletedTask;
    }

    public override Task WriteAsync(string? value)
    {
        Write(value);
        return Task.CompletedTask;
    }

    protected override void Dispose(bool disposing)
    {
        lock (_gate)
        {
            if (_line.Length > 0)
            {
                Emit();
            }
        }

        base.Dispose(disposing);
    }

    private void Emit()
    {
        var text = _line.ToString();
        _line.Clear();
        foreach (var prefix in (string[])["apiary: ", "warning: ", "WARNING: "])
        {
            if (text.StartsWith(prefix, StringComparison.Ordinal))
            {
                text = text[prefix.Length..];
            }
        }

        if (text.Length > 0)
        {
            ServerLog.RuntimeWarning(logger, text);
        }
    }
}
