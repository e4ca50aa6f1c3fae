using System.Globalization;
using Apiary.Sandbox.Native;

namespace Apiary.Sandbox.Bubblewrap;

/// <summary>
/// Who a sandboxed command is on the host. It is never a privileged user, whatever uid the server runs as:
/// <list type="bullet">
/// <item>A server running as root starts bubblewrap as root without a user namespace (so it can read the workspace
/// through folders only root may enter), and the command's first program is <c>setpriv</c>, which gives up every
/// capability and becomes <see cref="Uid"/>, a dedicated unprivileged host uid, before it runs the command. Files a
/// command creates are owned by that uid on the host; sysctls, root's keyrings and root's files are out of its reach.</item>
/// <item>A server running as an ordinary user starts bubblewrap in a new user namespace where <see cref="Uid"/> is
/// mapped to the server's own unprivileged uid: the command can do nothing on the host the server's user could not.</item>
/// </list>
/// Inside the sandbox the command is <see cref="Uid"/> in both cases.
/// </summary>
public sealed record SandboxUser
{
    /// <summary>The uid (and gid) sandboxed commands run as unless configured: a number no Debian tool or package allocates.</summary>
    public const int DefaultUid = 65533;

    /// <summary>Where <c>setpriv</c> (util-linux) is installed.</summary>
    public const string SetprivPath = "/usr/bin/setpriv";

    private SandboxUser(int uid, bool serverIsRoot)
    {
        Uid = uid;
        ServerIsRoot = serverIsRoot;
    }

    /// <summary>The uid and gid of sandboxed commands, inside the sandbox and (when the server is root) on the host.</summary>
    public int Uid { get; }

    /// <summary>True when the server runs as root, so bubblewrap runs privileged and <c>setpriv</c> drops to <see cref="Uid"/>.</summary>
    public bool ServerIsRoot { get; }

    /// <summary>The uid that owns what a command creates, as the host sees it.</summary>
    public int HostUid => ServerIsRoot ? Uid : (int)Libc.GetEuid();

    /// <summary>
    /// The uid a file the server writes into a workspace must be given, so commands can change it: <see cref="Uid"/>
    /// when the server is root, else null (the server's own files are already the command's).
    /// </summary>
    public int? FileOwner => ServerIsRoot ? Uid : null;

    /// <summary>One line for people: who commands run as.</summary>
    public string Describe() => ServerIsRoot
        ? string.Create(CultureInfo.InvariantCulture, $"host uid {Uid} (the server is root; commands drop to this unprivileged uid with setpriv)")
        : string.Create(CultureInfo.InvariantCulture, $"the server's own uid {HostUid}, seen as uid {Uid} inside a user namespace");

    /// <summary>The sandbox user for this process, commands running as <paramref name="uid"/>.</summary>
    /// <exception cref="SandboxUnavailableException">The uid is 0 or out of range, or the server is root and setpriv is missing.</exception>
    public static SandboxUser ForThisProcess(int uid = DefaultUid)
    {
        if (uid is <= 0 or 65534 or 65535)
        {
            throw new SandboxUnavailableException(string.Create(CultureInfo.InvariantCulture, $"the sandbox uid {uid} is not usable: it must be an unprivileged uid, not 0, 65534 (nobody) or 65535"));
        }

        var root = Libc.GetEuid() == 0;
        if (root && !File.Exists(SetprivPath))
        {
            throw new SandboxUnavailableException(
                $"the server runs as root but {SetprivPath} (util-linux) is missing, so commands could not drop to an unprivileged uid; install util-linux, or run the server as an ordinary user");
        }

        return new SandboxUser(uid, root);
    }
}
