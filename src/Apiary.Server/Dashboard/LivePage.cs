using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;

namespace Apiary.Server.Dashboard;

/// <summary>
/// A page that stays live: it loads what it shows (<see cref="LoadAsync"/>) when it opens and again whenever an event
/// it cares about (<see cref="Matters"/>) is appended. Bursts are coalesced: at most one load runs at a time, and one
/// more follows if events came meanwhile, so a busy log costs a page a few loads, not one per event.
/// </summary>
public abstract class LivePage : ComponentBase, IDisposable
{
    private IDisposable? _listening;
    private int _dirty;
    private int _loading;

    [Inject]
    internal DashboardFeed Feed { get; set; } = null!;

    [Inject]
    internal ApiaryRuntime Runtime { get; set; } = null!;

    [Inject]
    internal AuthenticationStateProvider Authentication { get; set; } = null!;

    /// <summary>Whether the signed-in user may change things (the operator token), not only look (the read-only token).</summary>
    protected bool CanChange { get; private set; }

    /// <summary>Who is signed in, as records name them (<c>operator</c>).</summary>
    protected string Who { get; private set; } = "";

    /// <summary>The last action's outcome, shown to the user.</summary>
    protected string? Notice { get; set; }

    /// <summary>Stops listening to the log.</summary>
    public void Dispose()
    {
        _listening?.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Whether <paramref name="e"/> may change what the page shows.</summary>
    internal abstract bool Matters(RecordedEvent e);

    /// <summary>Loads what the page shows; called on the renderer's thread.</summary>
    protected abstract Task LoadAsync();

    /// <inheritdoc/>
    protected override async Task OnInitializedAsync()
    {
        var user = (await Authentication.GetAuthenticationStateAsync()).User;
        CanChange = user.IsInRole(DashboardSetup.OperatorRole);
        Who = user.Identity?.Name ?? "";
        if (!RendererInfo.IsInteractive)
        {
            await LoadAsync();
            return;
        }

        // Listening starts before the first load, so nothing appended meanwhile is missed; refreshes wait for it.
        Volatile.Write(ref _loading, 1);
        _listening = Feed.Listen(e =>
        {
            if (Matters(e))
            {
                Interlocked.Exchange(ref _dirty, 1);
                _ = InvokeAsync(RefreshAsync);
            }
        });
        try
        {
            await LoadAsync();
        }
        finally
        {
            Volatile.Write(ref _loading, 0);
        }

        if (Volatile.Read(ref _dirty) == 1)
        {
            _ = InvokeAsync(RefreshAsync);
        }
    }

    /// <summary>
    /// Runs a change for the operator: checked here, on the server, whatever the page showed (a read-only user's
    /// buttons are disabled, and a forged click is refused all the same).
    /// </summary>
    protected async Task ChangeAsync(Func<Task<string>> change)
    {
        if (!CanChange)
        {
            Notice = "Signed in with the read-only token: nothing was changed.";
            return;
        }

        try
        {
            Notice = await change();
        }
        catch (ApiaryException ex)
        {
            Notice = "Not done: " + ex.Message;
        }

        await LoadAsync();
    }

    private async Task RefreshAsync()
    {
        if (Interlocked.Exchange(ref _loading, 1) == 1)
        {
            return;
        }

        try
        {
            while (Interlocked.Exchange(ref _dirty, 0) == 1)
            {
                await LoadAsync();
                StateHasChanged();
            }
        }
        finally
        {
            Volatile.Write(ref _loading, 0);
        }
    }
}
