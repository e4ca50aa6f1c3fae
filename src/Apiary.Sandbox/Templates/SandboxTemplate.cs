namespace Apiary.Sandbox.Templates;

/// <summary>Where a sandbox's commands may connect.</summary>
public abstract record EgressPolicy
{
    /// <summary>No network at all: the sandbox has only its own loopback. The default.</summary>
    public static EgressPolicy None { get; } = new NoEgress();

    private sealed record NoEgress : EgressPolicy;
}

/// <summary>Connections only to the listed domains, through a host-side proxy.</summary>
/// <param name="Domains">The domains allowed, such as <c>pypi.org</c> or <c>*.github.com</c>.</param>
public sealed record AllowlistEgress(IReadOnlyList<string> Domains) : EgressPolicy;

/// <summary>A host folder or file made visible inside the sandbox.</summary>
/// <param name="HostPath">The absolute path on the host.</param>
/// <param name="SandboxPath">The absolute path inside the sandbox.</param>
/// <param name="ReadOnly">True (the default) unless the template says <c>read_only: false</c>.</param>
public sealed record TemplateMount(string HostPath, string SandboxPath, bool ReadOnly = true);

/// <summary>How a secret reaches a command.</summary>
public enum SecretDelivery
{
    /// <summary>As an environment variable of the same name.</summary>
    Environment,

    /// <summary>As a file <c>/run/secrets/NAME</c> (mode 0400) on a private tmpfs.</summary>
    File,
}

/// <summary>A secret a template gives its commands.</summary>
/// <param name="Name">The secret's name in the secret store (and the variable or file name).</param>
/// <param name="Delivery">Environment variable or file.</param>
public sealed record TemplateSecret(string Name, SecretDelivery Delivery = SecretDelivery.Environment);

/// <summary>
/// A sandbox template: the limits and access of every command run with it. Loaded from
/// <c>templates/NAME.yaml</c> in the home; every value has a safe default.
/// </summary>
public sealed record SandboxTemplate
{
    /// <summary>The template every home ships: no network, modest limits.</summary>
    public static SandboxTemplate Default { get; } = new() { Name = "default" };

    /// <summary>The template's name (its file name without <c>.yaml</c>).</summary>
    public required string Name { get; init; }

    /// <summary>One line on what it is for.</summary>
    public string? Description { get; init; }

    /// <summary>Memory limit per command in MiB (cgroup when available; address-space rlimit always). Default 1024.</summary>
    public int MemoryMb { get; init; } = 1024;

    /// <summary>CPU share per command, in cores (cgroup CPU quota where available). Default 1.</summary>
    public double Cpus { get; init; } = 1.0;

    /// <summary>The most processes and threads a command may have at once. Default 256.</summary>
    public int Pids { get; init; } = 256;

    /// <summary>Wall-clock limit per command. Default 2 minutes.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The most bytes of stdout and stderr together per command. Default 1 MiB.</summary>
    public long OutputLimitBytes { get; init; } = 1024 * 1024;

    /// <summary>CPU time per command (rlimit). Default 5 minutes.</summary>
    public TimeSpan CpuTime { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Open files per process (rlimit). Default 1024.</summary>
    public int OpenFiles { get; init; } = 1024;

    /// <summary>Largest file a command may write, in MiB (rlimit). Default 1024.</summary>
    public int FileSizeMb { get; init; } = 1024;

    /// <summary>
    /// The most the session's workspace may hold, in MiB: a command that takes it past this is stopped, and no file can
    /// grow past the room left. Default 1024.
    /// </summary>
    public int DiskMb { get; init; } = 1024;

    /// <summary>Where commands may connect. Default: nowhere.</summary>
    public EgressPolicy Egress { get; init; } = EgressPolicy.None;

    /// <summary>Extra host paths visible inside the sandbox, read-only unless said.</summary>
    public IReadOnlyList<TemplateMount> Mounts { get; init; } = [];

    /// <summary>Environment variables every command gets.</summary>
    public IReadOnlyDictionary<string, string> Env { get; init; } = new Dictionary<string, string>();

    /// <summary>Secrets every command gets.</summary>
    public IReadOnlyList<TemplateSecret> Secrets { get; init; } = [];
}
