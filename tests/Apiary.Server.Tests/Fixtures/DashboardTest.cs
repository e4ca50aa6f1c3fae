namespace Apiary.Server.Tests;

/// <summary>
/// A dashboard browser test class: each of its tests gets a <see cref="DashboardBrowser"/> of its own (a server and a
/// chromium), started before the test and disposed after it. Derived classes belong to
/// <see cref="DashboardBrowser.Collection"/>, so they run one at a time.
/// </summary>
/// <param name="name">The prefix of the test's temporary folder.</param>
public abstract class DashboardTest(string name) : IAsyncLifetime
{
    private DashboardBrowser? _dashboard;

    private protected DashboardBrowser Dashboard => _dashboard ?? throw new InvalidOperationException("the dashboard starts in InitializeAsync");

    private protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _dashboard = await DashboardBrowser.StartAsync(name, Ct);

    public async ValueTask DisposeAsync()
    {
        if (_dashboard is not null)
        {
            await _dashboard.DisposeAsync();
        }

        GC.SuppressFinalize(this);
    }
}
