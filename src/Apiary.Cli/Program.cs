using Apiary.Cli;

return await ApiaryCli.RunAsync(args, CliContext.FromProcess()).ConfigureAwait(false);
