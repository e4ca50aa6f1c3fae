namespace Apiary.Governance;

/// <summary>
/// Environment variables that change which program runs or make a program run code it was not asked to: the search
/// path, the dynamic linker, shell start-up files and exported functions, git's configuration and helper commands,
/// interpreters' start-up options and module paths, build tools' extra inputs, pagers and editors. A proposal that sets
/// one is denied by the built-in rule <see cref="Rule"/> unless the rule that decides it names the variable in its
/// <c>env</c> match field: allowing one is always an explicit choice of the operator.
/// </summary>
public static class RiskyEnvironment
{
    /// <summary>The built-in rule that denies a risky variable no rule allows.</summary>
    public const string Rule = "risky-env";

    private static readonly HashSet<string> Names = new(StringComparer.Ordinal)
    {
        // Which program runs, and what the dynamic linker loads into it.
        "PATH", "GCONV_PATH", "LOCPATH", "HOSTALIASES",

        // Shells: start-up files, options and exported functions.
        "BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "PROMPT_COMMAND", "IFS", "CDPATH", "GLOBIGNORE", "SHELL",

        // Interpreters and runtimes.
        "NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE", "PERL5OPT", "PERL5LIB", "PERLLIB", "PERL5DB", "RUBYOPT", "RUBYLIB",
        "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH", "LUA_INIT", "LUA_PATH", "LUA_CPATH", "TCLLIBPATH", "R_PROFILE", "R_PROFILE_USER", "PHPRC", "PHP_INI_SCAN_DIR",

        // Build tools and the programs they run.
        "MAKEFLAGS", "MAKEFILES", "MFLAGS", "GNUMAKEFLAGS", "CC", "CXX", "LD", "AR", "CPP", "CFLAGS", "CXXFLAGS", "LDFLAGS", "RUSTC_WRAPPER", "RUSTC", "CARGO_BUILD_RUSTC_WRAPPER",

        // Programs other programs start: editors, pagers, askpass helpers, browsers.
        "EDITOR", "VISUAL", "PAGER", "MANPAGER", "LESSOPEN", "LESSCLOSE", "BROWSER", "SSH_ASKPASS", "SUDO_ASKPASS", "DISPLAY",
    };

    private static readonly string[] Prefixes =
    [
        "LD_",            // LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, ...
        "BASH_FUNC_",     // exported bash functions run as the commands they are named for
        "GIT_",           // GIT_CONFIG_*, GIT_EXTERNAL_DIFF, GIT_SSH_COMMAND, GIT_DIR, GIT_EXEC_PATH, GIT_PAGER, ...
        "PYTHON",         // PYTHONSTARTUP, PYTHONPATH, PYTHONHOME, PYTHONBREAKPOINT, PYTHONWARNINGS, ...
        "NPM_CONFIG_",    // npm's own settings: its script shell, node options, ...
        "DOTNET_",        // DOTNET_STARTUP_HOOKS, DOTNET_ADDITIONAL_DEPS, ...
        "COMPLUS_",
        "CORECLR_",       // profilers loaded into every .NET process
        "GEM_",
        "BUNDLE_",
        "CARGO_",
        "RUSTFLAGS",
        "GOFLAGS",
        "GOTOOLCHAIN",
    ];

    // Settings under a risky prefix that only change what is written (an author, an encoding), never what code runs.
    private static readonly HashSet<string> Harmless = new(StringComparer.Ordinal)
    {
        "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING", "PYTHONHASHSEED", "PYTHONUTF8", "PYTHONNOUSERSITE", "PYTHONFAULTHANDLER",
        "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE",
    };

    /// <summary>True when setting <paramref name="name"/> can change what runs or inject code.</summary>
    public static bool IsRisky(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var upper = name.ToUpperInvariant();
        return !Harmless.Contains(upper) && (Names.Contains(upper) || Prefixes.Any(p => upper.StartsWith(p, StringComparison.Ordinal)));
    }
}
