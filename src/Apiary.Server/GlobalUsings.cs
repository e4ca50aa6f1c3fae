// The namespaces most files of this project use, imported once.
global using Apiary.Runtime;
global using Microsoft.AspNetCore.Http;
global using Apiary.Contracts;
global using Apiary.Events;
global using System.Text.Json;
