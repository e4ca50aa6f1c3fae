using Apiary.Configuration;
using System.Globalization;
using Apiary.Text;
using YamlDotNet.RepresentationModel;

namespace Apiary.Sandbox.Templates;

internal sealed partial class TemplateParser
{
    /// <summary>The fields of <c>resources</c>.</summary>
    public static readonly IReadOnlyList<string> ResourceFields =
        ["memory_mb", "cpus", "pids", "timeout", "output_limit", "cpu_time", "open_files", "file_size_mb", "disk_mb"];

    public const int MinMemoryMb = 16;
    public const int MaxMemoryMb = 1_048_576;

    // The cgroup CPU quota cannot go below 1% of a core; the top is a sanity bound, not the machine's core count
    // (asking for more cores than the machine has simply means no CPU limit).
    public const double MinCpus = 0.01;
    public const double MaxCpus = 4096;

    public const int MinPids = 1;
    public const int MaxPids = 1_000_000;

    // A timeout is handed to timers that take at most ~24.8 days; a command that needs a day needs a workflow instead.
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromDays(1);

    // RLIMIT_CPU counts whole seconds, and a limit of 0 kills at once.
    public static readonly TimeSpan MinCpuTime = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan MaxCpuTime = TimeSpan.FromDays(7);

    // Output is held in memory and recorded with the command, so it has a ceiling even when a template raises it.
    public const long MaxOutputLimitBytes = 1L << 30;

    // Fewer than 16 descriptors breaks the dynamic linker and most tools; 1048576 is Linux's default nr_open.
    public const int MinOpenFiles = 16;
    public const int MaxOpenFiles = 1_048_576;

    public const int MinFileSizeMb = 1;
    public const int MaxFileSizeMb = 1_048_576;

    public const int MinDiskMb = 1;
    public const int MaxDiskMb = 16_777_216;

    private static readonly Dictionary<string, string> RenamedResourceFields = new(StringComparer.Ordinal)
    {
        ["memory"] = "resources.memory_mb",
        ["processes"] = "resources.pids",
        ["file_size"] = "resources.file_size_mb",
        ["disk"] = "resources.disk_mb",
        ["quota"] = "resources.disk_mb",
    };

    private SandboxTemplate ReadResources(YamlNode node, SandboxTemplate template)
    {
        if (node is not YamlMappingNode map)
        {
            _yaml.Error(node.Start, "'resources' must be a mapping such as { memory_mb: 1024, timeout: 2m }");
            return template;
        }

        foreach (var (keyNode, value) in map.Children)
        {
            var key = YamlReader.KeyOf(keyNode);
            var field = "resources." + key;
            if (!ResourceFields.Contains(key, StringComparer.Ordinal))
            {
                _yaml.WarnUnknown(keyNode, key, ResourceFields, "resources.", RenamedResourceFields);
                continue;
            }

            if (YamlReader.IsNull(value))
            {
                _yaml.WarnEmpty(keyNode, field);
                continue;
            }

            template = key switch
            {
                "memory_mb" => _yaml.WholeNumber(value, field, MinMemoryMb, MaxMemoryMb) is { } mb ? template with { MemoryMb = (int)mb } : template,
                "cpus" => Cpus(value, field) is { } cpus ? template with { Cpus = cpus } : template,
                "pids" => _yaml.WholeNumber(value, field, MinPids, MaxPids) is { } pids ? template with { Pids = (int)pids } : template,
                "timeout" => Duration(value, field, TimeSpan.Zero, MaxTimeout) is { } timeout ? template with { Timeout = timeout } : template,
                "output_limit" => Size(value, field, MaxOutputLimitBytes) is { } bytes ? template with { OutputLimitBytes = bytes } : template,
                "cpu_time" => Duration(value, field, MinCpuTime, MaxCpuTime) is { } cpu ? template with { CpuTime = cpu } : template,
                "open_files" => _yaml.WholeNumber(value, field, MinOpenFiles, MaxOpenFiles) is { } files ? template with { OpenFiles = (int)files } : template,
                "file_size_mb" => _yaml.WholeNumber(value, field, MinFileSizeMb, MaxFileSizeMb) is { } size ? template with { FileSizeMb = (int)size } : template,
                "disk_mb" => _yaml.WholeNumber(value, field, MinDiskMb, MaxDiskMb) is { } disk ? template with { DiskMb = (int)disk } : template,
                _ => template,
            };
        }

        return template;
    }

    private double? Cpus(YamlNode node, string field)
    {
        var value = _yaml.Text(node, field);
        if (value is null)
        {
            return null;
        }

        if (!double.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var cpus)
            || !double.IsFinite(cpus) || cpus < MinCpus || cpus > MaxCpus)
        {
            _yaml.Error(node.Start, $"'{field}' must be a number of cores from {MinCpus.ToString(CultureInfo.InvariantCulture)} to {MaxCpus.ToString(CultureInfo.InvariantCulture)}, such as 0.5 or 2, not '{value}'");
            return null;
        }

        return cpus;
    }

    /// <summary>A duration more than <paramref name="min"/> when that is zero, else at least it; at most <paramref name="max"/>.</summary>
    private TimeSpan? Duration(YamlNode node, string field, TimeSpan min, TimeSpan max)
    {
        var value = _yaml.Text(node, field);
        if (value is null)
        {
            return null;
        }

        var low = min == TimeSpan.Zero ? "more than zero" : $"at least {DurationText.Format(min)}";
        if (!DurationText.TryParse(value, out var duration) || duration <= TimeSpan.Zero || duration < min || duration > max)
        {
            _yaml.Error(node.Start, $"'{field}' must be {DurationText.Expected}, {low} and at most {DurationText.Format(max)}, not '{value}'");
            return null;
        }

        return duration;
    }

    private long? Size(YamlNode node, string field, long max)
    {
        var value = _yaml.Text(node, field);
        if (value is null)
        {
            return null;
        }

        if (!SizeText.TryParse(value, out var bytes) || bytes <= 0 || bytes > max)
        {
            _yaml.Error(node.Start, $"'{field}' must be {SizeText.Expected}, more than zero and at most {SizeText.Format(max)}, not '{value}'");
            return null;
        }

        return bytes;
    }
}
