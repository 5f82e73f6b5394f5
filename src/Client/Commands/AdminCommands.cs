using System.CommandLine;
using DTrust.Signing.V1;

namespace DTrust.Client.Commands;

/// <summary>Operator commands: API callers of your tenant, the audit chain, and usage for billing.</summary>
internal static class AdminCommands
{
    public static Command Caller(Cli cli)
    {
        var name = new Argument<string>("name");
        var role = new Option<string>("--role") { Description = "partner (operators are registered on the server host: add-caller)", Required = true };
        var returnUrls = new Option<string[]>("--return-url")
        {
            Description = "a URL the holder's browser may be sent back to after approval (repeatable; CSC's redirect_uri)",
            AllowMultipleArgumentsPerToken = true,
        };
        var create = new Command("create", "registers a caller and prints its API key once") { name, role, returnUrls };
        create.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var request = new CreateCallerRequest { Name = parse.GetValue(name)!, Role = CredentialCommands.ParseEnum<CallerRole>(parse.GetValue(role)!, "CALLER_ROLE_") };
            request.ReturnUrls.AddRange(parse.GetValue(returnUrls) ?? []);
            var r = await client.Credentials.CreateCallerAsync(request, cancellationToken: ct);
            Console.WriteLine($"caller   {r.Caller.CallerId} ({CredentialCommands.Name(r.Caller.Role)})");
            foreach (var url in r.Caller.ReturnUrls)
            {
                Console.WriteLine($"return   {url}");
            }

            Console.WriteLine($"api key  {r.ApiKey}   (shown once; stored only as a hash)");
            return 0;
        }));

        var list = new Command("list", "lists your tenant's callers");
        list.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            foreach (var c in (await client.Credentials.ListCallersAsync(new ListCallersRequest(), cancellationToken: ct)).Callers)
            {
                Console.WriteLine($"{c.CallerId}  {CredentialCommands.Name(c.Role),-9} {(c.Revoked ? "REVOKED" : "active"),-8} {c.Name}");
            }

            return 0;
        }));

        var id = new Argument<string>("caller");
        var revoke = new Command("revoke", "revokes a caller's API key") { id };
        revoke.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var c = await client.Credentials.RevokeCallerAsync(new RevokeCallerRequest { CallerId = parse.GetValue(id)! }, cancellationToken: ct);
            Console.WriteLine($"{c.CallerId} revoked");
            return 0;
        }));

        return new Command("caller", "API callers (operators and partners) of your tenant") { create, list, revoke };
    }

    public static Command Audit(Cli cli)
    {
        var verify = new Command("verify", "recomputes the audit hash chain; names the first changed, removed or reordered entry");
        verify.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var r = await client.Credentials.VerifyAuditLogAsync(new VerifyAuditLogRequest(), cancellationToken: ct);
            if (r.Intact)
            {
                Console.WriteLine($"audit chain intact: {r.Entries} entries");
                return 0;
            }

            Console.WriteLine($"audit chain BROKEN at entry {r.FirstBadSequence}: {r.Problem} ({r.Entries} entries read)");
            return 1;
        }));
        return new Command("audit", "the append-only audit log") { verify };
    }

    public static Command Usage(Cli cli)
    {
        var month = new Option<string?>("--month") { Description = "YYYY-MM (default: every month)" };
        var usage = new Command("usage", "signatures per month and level for your tenant (what is billed)") { month };
        usage.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var r = await client.Credentials.GetUsageAsync(new GetUsageRequest { Month = parse.GetValue(month) ?? "" }, cancellationToken: ct);
            Console.WriteLine("month    level      signatures");
            foreach (var row in r.Rows)
            {
                Console.WriteLine($"{row.Month}  {CredentialCommands.Name(row.Level),-10} {row.Signatures,10}");
            }

            return 0;
        }));
        return usage;
    }
}
