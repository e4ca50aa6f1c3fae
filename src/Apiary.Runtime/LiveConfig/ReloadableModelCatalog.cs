using Apiary.Models;

namespace Apiary.Runtime.LiveConfig;

/// <summary>
/// The models of the home as loaded last: <see cref="Resolve"/> asks the catalog in force, which a reload of
/// <c>models.yaml</c> replaces (<see cref="Use"/>). Catalogs it replaced stay open until it is disposed, because a run
/// may still be calling a model through one of their clients.
/// </summary>
internal sealed class ReloadableModelCatalog : IModelCatalog, IDisposable
{
    private readonly List<ModelCatalog> _owned = [];
    private volatile IModelCatalog _current;

    public ReloadableModelCatalog(IModelCatalog initial, ModelCatalog? owned)
    {
        _current = initial;
        if (owned is not null)
        {
            _owned.Add(owned);
        }
    }

    /// <inheritdoc/>
    public ModelBinding Resolve(string? modelReference) => _current.Resolve(modelReference);

    /// <summary>Resolves with <paramref name="catalog"/> from now on; it is disposed with this catalog.</summary>
    public void Use(ModelCatalog catalog)
    {
        lock (_owned)
        {
            _owned.Add(catalog);
        }

        _current = catalog;
    }

    public void Dispose()
    {
        lock (_owned)
        {
            foreach (var catalog in _owned)
            {
                catalog.Dispose();
            }

            _owned.Clear();
        }
    }
}
