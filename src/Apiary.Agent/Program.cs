using Apiary.Agent;

return await AgentCli.RunAsync(args, Console.Error).ConfigureAwait(false);
