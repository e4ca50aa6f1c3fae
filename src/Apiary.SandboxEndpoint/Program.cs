using Apiary.SandboxEndpoint;
using Apiary.SandboxEndpoint.Telemetry;

using var logging = EndpointLogging.Create();
return await EndpointCli.RunAsync(args, Console.Error, logging).ConfigureAwait(false);
