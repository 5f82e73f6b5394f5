using System.CommandLine;
using DTrust.Client.Commands;

var cli = new Cli();
var verbose = new Option<bool>("--verbose") { Description = "print the details (stack traces) of unexpected errors", Recursive = true };
var holder = CredentialCommands.Holder(cli);
HolderApprovalCommands.AddTo(holder, cli);
var root = new RootCommand("dtrust: client of the DTrust remote signing server")
{
    Options = { cli.Server, cli.ApiKeyFile, verbose },
    Subcommands =
    {
        HealthCommand.Create(cli.Server),
        TimestampCommand.Create(cli.Server),
        holder,
        CredentialCommands.Credential(cli),
        SealCommands.Organisation(cli),
        SealCommands.Seal(cli),
        AdminCommands.Caller(cli),
        AdminCommands.Audit(cli),
        AdminCommands.Usage(cli),
        SignCommands.Sign(cli),
        VerifyCommand.Create(),
        HolderApprovalCommands.Approve(),
    },
};
var parse = root.Parse(args);
Cli.Verbose = parse.GetValue(verbose);

// A mistyped command or option: name what is wrong in one line each and where the usage is, not the whole help.
// An unknown option next to a variadic argument is taken as one more value (a file called --credentials): name it.
var unknown = parse.Tokens.Where(t => t.Type == System.CommandLine.Parsing.TokenType.Argument && t.Value.Length > 1 && t.Value[0] == '-')
    .Select(t => $"Unrecognized option '{t.Value}'.").ToList();
if ((parse.Errors.Count > 0 || unknown.Count > 0) && !args.Contains("--help") && !args.Contains("-h"))
{
    foreach (var error in unknown.Concat(parse.Errors.Select(e => e.Message)).Distinct())
    {
        await Console.Error.WriteLineAsync("error: " + error);
    }

    await Console.Error.WriteLineAsync($"see: dtrust {string.Join(' ', parse.CommandResult.Command.Name == root.Name ? [] : CommandPath(parse.CommandResult))} --help".Replace("  ", " ", StringComparison.Ordinal));
    return 1;
}

return await parse.InvokeAsync();

static IEnumerable<string> CommandPath(System.CommandLine.Parsing.CommandResult result)
{
    var names = new List<string>();
    for (var r = result; r is not null && r.Parent is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
    {
        names.Insert(0, r.Command.Name);
    }

    return names;
}
