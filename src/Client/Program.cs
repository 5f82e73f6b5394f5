using System.CommandLine;
using DTrust.Client.Commands;

var cli = new Cli();
var holder = CredentialCommands.Holder(cli);
HolderApprovalCommands.AddTo(holder, cli);
var root = new RootCommand("dtrust: client of the DTrust remote signing server")
{
    Options = { cli.Server, cli.ApiKeyFile },
    Subcommands =
    {
        HealthCommand.Create(cli.Server),
        TimestampCommand.Create(cli.Server),
        holder,
        CredentialCommands.Credential(cli),
        AdminCommands.Caller(cli),
        AdminCommands.Audit(cli),
        AdminCommands.Usage(cli),
        SignCommands.Sign(cli),
        SignCommands.Verify(),
        HolderApprovalCommands.Approve(),
    },
};
return await root.Parse(args).InvokeAsync();
