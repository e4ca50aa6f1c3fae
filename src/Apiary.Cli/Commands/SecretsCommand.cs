using System.Text;
using System.Text.Json.Serialization;
using Apiary.Home;
using Apiary.Secrets;

namespace Apiary.Cli.Commands;

/// <summary>
/// <c>apiary secrets</c>: set, list and remove the secrets of a home. Values come only from standard input and are
/// never printed by any command.
/// </summary>
internal static class SecretsCommand
{
    public static Command Create(CliContext context) => new("secrets", "Set, list and remove secrets: named values, encrypted at rest in the home, given to commands only when they run.")
    {
        Set(context),
        List(context),
        Remove(context),
    };

    private static Command Set(CliContext context)
    {
        var name = NameArgument();

        // Catches anything typed after the name, so a value given on the command line is refused here rather than
        // quoted back by the parser's "unrecognized argument" error.
        var extra = new Argument<string[]>("value") { Arity = ArgumentArity.ZeroOrMore, Hidden = true };
        var command = new Command("set", "Set (or replace) a secret. The value is read from standard input, never from the command line; one trailing newline is dropped. On a terminal it is typed without echo.")
        {
            name, extra,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(extra) is [_, ..])
            {
                throw CliException.BadInput(
                    "'apiary secrets set' takes only NAME: the value is read from standard input, never from the command line, where shell history " +
                    "and other users' process listings would see it. Pipe it in ('apiary secrets set NAME < FILE') or type it at the prompt");
            }

            var secret = ParseName(parse.GetValue(name));
            var store = OpenStore(parse, context);
            var value = await ReadValueAsync(context, secret, cancellationToken).ConfigureAwait(false);
            if (value.Length == 0)
            {
                throw CliException.BadInput($"refusing an empty value for {secret}; to delete the secret, use 'apiary secrets rm {secret}'");
            }

            if (Encoding.UTF8.GetByteCount(value) > FileSecretStore.MaxValueBytes)
            {
                throw CliException.BadInput($"the value for {secret} is larger than {FileSecretStore.MaxValueBytes / 1024} KiB, the most a secret can hold");
            }

            var existed = (await store.ListAsync(cancellationToken).ConfigureAwait(false)).Contains(secret, StringComparer.Ordinal);
            try
            {
                await store.SetAsync(secret, value, cancellationToken).ConfigureAwait(false);
            }
            catch (ArgumentException)
            {
                // The size was checked above, so this is text with an unpaired surrogate, which UTF-8 cannot hold.
                throw CliException.BadInput($"the value for {secret} is not valid text");
            }

            await context.Out.WriteLineAsync($"{(existed ? "Replaced" : "Set")} secret {secret} in {store.SecretsDirectory}").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command List(CliContext context)
    {
        var json = CommonOptions.Json();
        var command = new Command("list", "List the names of the secrets, sorted. Values are never shown.")
        {
            json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var store = OpenStore(parse, context);
            var names = await store.ListAsync(cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await JsonOutput.WriteAsync(
                    context.Out,
                    new SecretListJson(store.Home.Root, names.Select(n => new SecretJson(n)).ToList()),
                    CliJsonContext.Default.SecretListJson).ConfigureAwait(false);
            }
            else if (names.Count == 0)
            {
                await context.Out.WriteLineAsync($"No secrets in {store.SecretsDirectory}. Set one with 'apiary secrets set NAME' (the value is read from standard input).").ConfigureAwait(false);
            }
            else
            {
                foreach (var secret in names)
                {
                    await context.Out.WriteLineAsync(secret).ConfigureAwait(false);
                }
            }

            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Remove(CliContext context)
    {
        var name = NameArgument();
        var command = new Command("rm", "Remove a secret.")
        {
            name,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var secret = ParseName(parse.GetValue(name));
            var store = OpenStore(parse, context);
            if (!await store.RemoveAsync(secret, cancellationToken).ConfigureAwait(false))
            {
                throw CliException.BadInput($"there is no secret named {secret} in {store.SecretsDirectory}; 'apiary secrets list' shows the secrets");
            }

            await context.Out.WriteLineAsync($"Removed secret {secret}").ConfigureAwait(false);
            return ExitCodes.Success;
        });
        return command;
    }

    private static Argument<string> NameArgument() => new("name")
    {
        Description = $"The secret's name, like an environment variable name: 1 to {SecretName.MaxLength} of A-Z a-z 0-9 _, not starting with a digit.",
    };

    private static string ParseName(string? raw) =>
        SecretName.Check(raw) is { } error ? throw CliException.BadInput(error) : raw!;

    private static FileSecretStore OpenStore(ParseResult parse, CliContext context)
    {
        var home = CommonOptions.LocateHome(parse, context);
        if (!home.Exists)
        {
            throw CliException.Failure(
                $"there is no Apiary home at {home.Root} ({CommonOptions.Describe(home.Source)}); create it with 'apiary init --home {home.Root}', or point --home or ${ApiaryHome.EnvironmentVariable} at an existing home");
        }

        return new FileSecretStore(home);
    }

    /// <summary>
    /// The value from standard input, less one trailing newline. A person at a terminal is prompted on stderr and
    /// types without echo; anything else (a pipe, a file, a test's reader) is read to its end, so values may span lines.
    /// </summary>
    private static async Task<string> ReadValueAsync(CliContext context, string name, CancellationToken cancellationToken)
    {
        if (ReferenceEquals(context.In, Console.In) && !Console.IsInputRedirected)
        {
            await context.Error.WriteAsync($"Value for {name} (not shown as you type; end with Enter): ").ConfigureAwait(false);
            var typed = ReadWithoutEcho() ?? await context.In.ReadLineAsync(cancellationToken).ConfigureAwait(false) ?? "";
            await context.Error.WriteLineAsync().ConfigureAwait(false);
            return typed;
        }

        // Reads one character past the most a value and its newline can be, so an endless stream is cut off, not buffered.
        var buffer = new char[FileSecretStore.MaxValueBytes + 3];
        var read = 0;
        while (read < buffer.Length)
        {
            var count = await context.In.ReadBlockAsync(buffer.AsMemory(read), cancellationToken).ConfigureAwait(false);
            if (count == 0)
            {
                break;
            }

            read += count;
        }

        if (read == buffer.Length)
        {
            throw CliException.BadInput($"the value for {name} is larger than {FileSecretStore.MaxValueBytes / 1024} KiB, the most a secret can hold");
        }

        var end = read >= 2 && buffer[read - 2] == '\r' && buffer[read - 1] == '\n' ? read - 2
            : read >= 1 && buffer[read - 1] == '\n' ? read - 1
            : read;
        var value = new string(buffer, 0, end);
        Array.Clear(buffer);
        return value;
    }

    /// <summary>Reads a line from the terminal without echoing it; null when the console cannot do that.</summary>
    private static string? ReadWithoutEcho()
    {
        var typed = new StringBuilder();
        try
        {
            while (true)
            {
                var key = Console.ReadKey(intercept: true);
                if (key.Key == ConsoleKey.Enter)
                {
                    return typed.ToString();
                }

                if (key.Key == ConsoleKey.Backspace)
                {
                    if (typed.Length > 0)
                    {
                        typed.Length--;
                    }
                }
                else if (!char.IsControl(key.KeyChar))
                {
                    typed.Append(key.KeyChar);
                }
            }
        }
        catch (InvalidOperationException) when (typed.Length == 0)
        {
            return null;
        }
    }
}
