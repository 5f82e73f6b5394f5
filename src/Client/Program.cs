using System.CommandLine;
using DTrust.Client.Commands;

var cli = new Cli();
var root = new RootCommand("dtrust: client of the DTrust remote signing server")
{
    Options = { cli.Server, cli.ApiKeyFile },
    Subcommands =
    {
        HealthCommand.Create(cli.Server),
        TimestampCommand.Create(cli.Server),
        CredentialCommands.Holder(cli),
        CredentialCommands.Credential(cli),
        AdminCommands.Caller(cli),
        AdminCommands.Audit(cli),
        AdminCommands.Usage(cli),
        SignCommands.Sign(cli),
        SignCommands.Verify(),
    },
};
return await root.Parse(args).InvokeAsync();
