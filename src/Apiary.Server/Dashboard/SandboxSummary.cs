using Apiary.Sandbox.Probe;

namespace Apiary.Server.Dashboard;

/// <summary>What the machine's sandbox can do (the checks of <c>apiary doctor</c>), probed once when first asked for.</summary>
internal sealed class SandboxSummary
{
    private readonly Lazy<Task<CapabilityReport>> _report = new(() => CapabilityProbe.RunAsync(CancellationToken.None));

    /// <summary>The report, once probed; null while the probe runs.</summary>
    public CapabilityReport? Report => _report.IsValueCreated && _report.Value.IsCompletedSuccessfully ? _report.Value.Result : null;

    public Task<CapabilityReport> ProbeAsync() => _report.Value;
}
