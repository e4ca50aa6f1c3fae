using Apiary.Models;

namespace Apiary.Runtime;

/// <summary>The catalog when <c>models.yaml</c> cannot be loaded: every run is refused with what is wrong.</summary>
internal sealed class UnavailableModelCatalog(string problem) : IModelCatalog
{
    public ModelBinding Resolve(string? modelReference) => throw new ModelConfigurationException(problem);
}
