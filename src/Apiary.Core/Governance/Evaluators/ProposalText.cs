namespace Apiary.Governance;

/// <summary>The texts of a proposal that content checks look at, each with a label for reasons.</summary>
internal static class ProposalText
{
    public static IEnumerable<(string Label, string Text)> Of(Proposal proposal)
    {
        var arguments = proposal.Arguments;
        if (arguments.Command is { } command)
        {
            yield return ("command", command);
        }

        if (arguments.Program is { } program)
        {
            yield return ("program", program);
        }

        foreach (var (name, value) in arguments.Env)
        {
            yield return ($"env {name}", value);
        }

        if (arguments.Stdin is { } stdin)
        {
            yield return ("stdin", stdin);
        }

        if (arguments.Content is { } content)
        {
            yield return ("content", content);
        }

        if (arguments.Workdir is { } workdir)
        {
            yield return ("workdir", workdir);
        }

        for (var i = 0; i < arguments.Args.Count; i++)
        {
            yield return ($"argument {i + 1}", arguments.Args[i]);
        }

        if (arguments.Path is { } path)
        {
            yield return ("path", path);
        }

        foreach (var recipient in arguments.Recipients)
        {
            yield return ("recipient", recipient);
        }

        foreach (var (key, value) in arguments.Other)
        {
            yield return ($"argument '{key}'", value);
        }
    }
}
