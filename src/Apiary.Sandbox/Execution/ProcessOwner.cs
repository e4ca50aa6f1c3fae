using System.Globalization;

namespace Apiary.Sandbox.Execution;

/// <summary>
/// Names this process in what it leaves on the machine (its sandboxes' runtime folder, its commands' cgroups), as
/// <c>PID.STARTTIME</c>: the pid with the kernel's start time of the process, so that a later process given the same
/// pid is not mistaken for it. A server starting later removes what an owner no longer alive left (see
/// <see cref="IsAlive"/>).
/// </summary>
internal static class ProcessOwner
{
    /// <summary>This process, as its marks name it.</summary>
    public static string Token { get; } = TokenOf(Environment.ProcessId) ?? Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

    /// <summary>Whether the process <paramref name="token"/> names is still running.</summary>
    public static bool IsAlive(string token)
    {
        var dot = token.IndexOf('.', StringComparison.Ordinal);
        return dot > 0
            && int.TryParse(token.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
            && TokenOf(pid) == token;
    }

    /// <summary>Reads the owner token at the start of <paramref name="name"/> (<c>PID.STARTTIME-rest</c>); null when it has none.</summary>
    public static string? TokenIn(string name)
    {
        var dash = name.IndexOf('-', StringComparison.Ordinal);
        var token = dash > 0 ? name[..dash] : name;
        var dot = token.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && token.AsSpan(0, dot).ContainsAnyExceptInRange('0', '9') is false && token.AsSpan(dot + 1).ContainsAnyExceptInRange('0', '9') is false && dot + 1 < token.Length
            ? token
            : null;
    }

    private static string? TokenOf(int pid)
    {
        try
        {
            // Field 22 of /proc/PID/stat, counted after the command name's closing parenthesis (the name may hold spaces).
            var stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return $"{pid.ToString(CultureInfo.InvariantCulture)}.{fields[19]}";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }
}
