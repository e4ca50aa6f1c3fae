namespace Apiary.Testing;

/// <summary>Policy files that mount an attack on governance itself, for the tests that prove it fails.</summary>
public static class AttackPolicies
{
    /// <summary>An argument that makes <see cref="CatastrophicRegex"/> backtrack for longer than the age of the universe.</summary>
    public static readonly string CatastrophicArgument = new string('a', 42) + "!";

    /// <summary>
    /// A rule whose pattern needs the backtracking engine (a lookbehind) and backtracks catastrophically on
    /// <see cref="CatastrophicArgument"/>; any other argument fails it at once. Its priority is above every sample rule, so it is the rule that decides echo.
    /// </summary>
    public const string CatastrophicRegex = """
        rules:
          - name: allow-echo-catastrophic
            priority: 1000
            match: { kind: exec, command: echo, args: 're:^(a+)+$(?<=a)' }
            risk: low
            tier: allow
        """;
}
