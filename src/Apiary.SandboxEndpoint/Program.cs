using Apiary.SandboxEndpoint;

return await EndpointCli.RunAsync(args, Console.Error).ConfigureAwait(false);
