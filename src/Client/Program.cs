using System.CommandLine;
using DTrust.Client.Commands;

var server = new Option<string>("--server", "-s")
{
    Description = "gRPC address of the DTrust server (http:// for h2c, https:// for TLS)",
    DefaultValueFactory = _ => Environment.GetEnvironmentVariable("DTRUST_SERVER") ?? "http://127.0.0.1:5050",
    Recursive = true,
};

var root = new RootCommand("dtrust: client of the DTrust remote signing server")
{
    Options = { server },
    Subcommands = { HealthCommand.Create(server), TimestampCommand.Create(server) },
};
return await root.Parse(args).InvokeAsync();
