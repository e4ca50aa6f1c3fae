// The namespaces most files of this project use, imported once.
global using Apiary.Contracts;
global using Apiary.Events;
global using Apiary.Governance;
global using System.Text.Json;
global using Microsoft.Extensions.AI;
global using System.Globalization;
