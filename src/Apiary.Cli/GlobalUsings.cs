// The namespaces most files of this project use, imported once.
global using System.CommandLine;
global using Apiary.Contracts;
global using Apiary.Client;
global using Apiary.Cli.Output;
global using System.Globalization;
