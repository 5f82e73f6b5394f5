using System.CommandLine;
using DTrust.Signing.V1;
using Google.Protobuf.WellKnownTypes;

namespace DTrust.Client.Commands;

/// <summary>Operator commands for legal persons: organisations and their seals (signed with <c>dtrust sign --seal</c>).</summary>
internal static class SealCommands
{
    public static Command Organisation(Cli cli)
    {
        var id = new Argument<string>("organisation") { Description = "the organisation's id in your tenant" };
        var name = new Option<string>("--name") { Description = "registered name (certificate O and CN)", Required = true };
        var country = new Option<string>("--country") { Description = "ISO 3166-1 alpha-2 of the registration, e.g. DE", Required = true };
        var identifier = new Option<string>("--identifier")
        {
            Description = "EN 319 412-1 organizationIdentifier, e.g. NTRDE-HRB12345, VATDE-123456789, LEIXG-<LEI>",
            Required = true,
        };
        var representative = new Option<string>("--representative") { Description = "the authorised representative who applies for seals", Required = true };
        var evidence = new Option<string>("--evidence")
        {
            Description = "what shows the representative's authority, e.g. \"register extract of 2026-11-30, Amtsgericht Berlin HRB 12345\"",
            Required = true,
        };
        var verifiedAt = new Option<DateTimeOffset?>("--verified-at") { Description = "when the evidence was checked (default: now)" };
        var set = new Command("set", "creates or updates an organisation that holds seals")
        {
            id, name, country, identifier, representative, evidence, verifiedAt,
        };
        set.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            Print(await client.Credentials.UpsertOrganisationAsync(
                new UpsertOrganisationRequest
                {
                    Organisation = new Signing.V1.Organisation
                    {
                        OrganisationId = parse.GetValue(id)!,
                        Name = parse.GetValue(name)!,
                        Country = parse.GetValue(country)!,
                        Identifier = parse.GetValue(identifier)!,
                        Representative = parse.GetValue(representative)!,
                        RepresentativeEvidence = parse.GetValue(evidence)!,
                        EvidenceVerifiedAt = Timestamp.FromDateTimeOffset(parse.GetValue(verifiedAt) ?? DateTimeOffset.UtcNow),
                    },
                },
                cancellationToken: ct));
            return 0;
        }));

        var showId = new Argument<string>("organisation");
        var show = new Command("show", "shows an organisation") { showId };
        show.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            Print(await client.Credentials.GetOrganisationAsync(new GetOrganisationRequest { OrganisationId = parse.GetValue(showId)! }, cancellationToken: ct));
            return 0;
        }));

        return new Command("organisation", "organisations (legal persons) of your tenant that hold seals") { set, show };
    }

    public static Command Seal(Cli cli)
    {
        var organisation = new Argument<string>("organisation");
        var level = new Option<string>("--level") { Description = "qualified (QCP-l-qscd) or advanced (QCP-l)", Required = true };
        var algorithm = new Option<string>("--algorithm") { Description = "ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096", DefaultValueFactory = _ => "ec-p256" };
        var callers = new Option<string[]>("--caller")
        {
            Description = "a partner caller id that may sign with the seal (the organisation's system); repeat for several",
            Required = true,
            AllowMultipleArgumentsPerToken = true,
        };
        var enrol = new Command("enrol", "creates a seal: key in the seal token, certificate naming the organisation; VALID at once for its callers")
        {
            organisation, level, algorithm, callers,
        };
        enrol.Aliases.Add("enroll");
        enrol.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var seal = await client.Credentials.EnrollSealAsync(
                new EnrollSealRequest
                {
                    OrganisationId = parse.GetValue(organisation)!,
                    Level = SealLevel(parse.GetValue(level)!),
                    KeyAlgorithm = CredentialCommands.ParseEnum<KeyAlgorithm>(parse.GetValue(algorithm)!.Replace("-", "_", StringComparison.Ordinal), "KEY_ALGORITHM_"),
                    CallerIds = { parse.GetValue(callers)! },
                },
                cancellationToken: ct);
            CredentialCommands.Print(seal);
            return 0;
        }));

        var sealId = new Argument<string>("seal");
        var newCallers = new Option<string[]>("--caller") { Description = "the callers that may sign from now on (replaces the list)", Required = true, AllowMultipleArgumentsPerToken = true };
        var rebind = new Command("callers", "replaces the callers that may sign with a seal") { sealId, newCallers };
        rebind.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            CredentialCommands.Print(await client.Credentials.SetSealCallersAsync(
                new SetSealCallersRequest { CredentialId = parse.GetValue(sealId)!, CallerIds = { parse.GetValue(newCallers)! } }, cancellationToken: ct));
            return 0;
        }));

        return new Command("seal", "seals of organisations: enrol, callers (show, list and revoke as credentials)") { enrol, rebind };
    }

    private static Level SealLevel(string value) => value.ToUpperInvariant() switch
    {
        "QUALIFIED" or "QUALIFIED_SEAL" => Level.QualifiedSeal,
        "ADVANCED" or "ADVANCED_SEAL" => Level.AdvancedSeal,
        _ => throw new ArgumentException($"'{value}' is not a seal level (qualified or advanced)"),
    };

    private static void Print(Signing.V1.Organisation o)
    {
        Console.WriteLine($"organisation   {o.OrganisationId}: {o.Name}, {o.Country}, {o.Identifier}");
        Console.WriteLine($"representative {o.Representative}");
        Console.WriteLine($"evidence       {o.RepresentativeEvidence} (checked {o.EvidenceVerifiedAt.ToDateTimeOffset():yyyy-MM-dd})");
    }
}
