using Microsoft.Extensions.Logging;

namespace Apiary.Server.Telemetry;

/// <summary>
/// Hands every logger of another factory out as its own, so the web host logs where the server does. Disposing it
/// leaves the factory alone: the server owns that.
/// </summary>
internal sealed class ForwardingLoggerProvider(ILoggerFactory target) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => target.CreateLogger(categoryName);

    public void Dispose()
    {
    }
}
