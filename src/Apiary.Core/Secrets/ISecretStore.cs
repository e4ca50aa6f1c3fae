namespace Apiary.Secrets;

/// <summary>
/// Named secret values kept by the control plane. Values are given to a command only when it runs, never written to
/// a workspace, and never printed back.
/// </summary>
public interface ISecretStore
{
    /// <summary>The value of <paramref name="name"/>, or null when there is no such secret.</summary>
    Task<string?> GetAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Sets (or replaces) the value of <paramref name="name"/>.</summary>
    Task SetAsync(string name, string value, CancellationToken cancellationToken = default);

    /// <summary>The names of all secrets, sorted; never their values.</summary>
    Task<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken = default);

    /// <summary>Removes <paramref name="name"/>; false when there was no such secret.</summary>
    Task<bool> RemoveAsync(string name, CancellationToken cancellationToken = default);
}
