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
        var phone = new Option<string>("--phone") { Description = "E.164 number of the representative: confirms new seals and their callers", Required = true };
        var verifiedAt = new Option<DateTimeOffset?>("--verified-at") { Description = "when the evidence was checked (default: now)" };
        var (code, fromOutbox) = ConfirmationOptions();
        var set = new Command("set", "creates or updates an organisation that holds seals (a new representative needs the current one's code)")
        {
            id, name, country, identifier, representative, evidence, phone, verifiedAt, code, fromOutbox,
        };
        set.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            Print(await ConfirmedAsync(parse, code, fromOutbox, "representative:" + parse.GetValue(id), c => client.Credentials.UpsertOrganisationAsync(
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
                        RepresentativePhone = parse.GetValue(phone)!,
                        EvidenceVerifiedAt = Timestamp.FromDateTimeOffset(parse.GetValue(verifiedAt) ?? DateTimeOffset.UtcNow),
                    },
                    ConfirmationCode = c,
                },
                cancellationToken: ct).ResponseAsync, ct));
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
        var (code, fromOutbox) = ConfirmationOptions();
        var enrol = new Command(
            "enrol",
            "creates a seal once the representative confirms (the first call sends them a code): key in the seal token, " +
            "certificate naming the organisation; VALID at once for its callers")
        {
            organisation, level, algorithm, callers, code, fromOutbox,
        };
        enrol.Aliases.Add("enroll");
        enrol.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var seal = await ConfirmedAsync(parse, code, fromOutbox, "seal-enrol:" + parse.GetValue(organisation), c => client.Credentials.EnrollSealAsync(
                new EnrollSealRequest
                {
                    OrganisationId = parse.GetValue(organisation)!,
                    Level = SealLevel(parse.GetValue(level)!),
                    KeyAlgorithm = CredentialCommands.ParseEnum<KeyAlgorithm>(parse.GetValue(algorithm)!.Replace("-", "_", StringComparison.Ordinal), "KEY_ALGORITHM_"),
                    CallerIds = { parse.GetValue(callers)! },
                    ConfirmationCode = c,
                },
                cancellationToken: ct).ResponseAsync, ct);
            CredentialCommands.Print(seal);
            return 0;
        }));

        var sealId = new Argument<string>("seal");
        var newCallers = new Option<string[]>("--caller") { Description = "the callers that may sign from now on (replaces the list)", Required = true, AllowMultipleArgumentsPerToken = true };
        var (rebindCode, rebindFromOutbox) = ConfirmationOptions();
        var rebind = new Command("callers", "replaces the callers that may sign with a seal, once the representative (or a second operator) confirms")
        {
            sealId, newCallers, rebindCode, rebindFromOutbox,
        };
        rebind.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            CredentialCommands.Print(await ConfirmedAsync(parse, rebindCode, rebindFromOutbox, "seal-callers:" + parse.GetValue(sealId), c => client.Credentials.SetSealCallersAsync(
                new SetSealCallersRequest
                {
                    CredentialId = parse.GetValue(sealId)!,
                    CallerIds = { parse.GetValue(newCallers)! },
                    ConfirmationCode = c,
                },
                cancellationToken: ct).ResponseAsync, ct));
            return 0;
        }));

        return new Command("seal", "seals of organisations: enrol, callers (show, list and revoke as credentials)") { enrol, rebind };
    }

    private static (Option<string?> Code, Option<bool> FromOutbox) ConfirmationOptions() =>
    (
        new Option<string?>("--code") { Description = "the code the representative received (the first call without it sends one)" },
        new Option<bool>("--code-from-outbox") { Description = "development: read the representative's code from the outbox" });

    /// <summary>
    /// Calls with the given code (or none). With --code-from-outbox (development) a call the server holds for the
    /// representative's confirmation is made again with the code it just sent, as the representative would read it out.
    /// </summary>
    private static async Task<T> ConfirmedAsync<T>(
        System.CommandLine.ParseResult parse, Option<string?> code, Option<bool> fromOutbox, string subject, Func<string, Task<T>> call,
        CancellationToken ct)
    {
        try
        {
            return await call(parse.GetValue(code) ?? "");
        }
        catch (Grpc.Core.RpcException e) when (parse.GetValue(fromOutbox) && e.StatusCode == Grpc.Core.StatusCode.FailedPrecondition
            && e.Status.Detail.Contains("confirmation", StringComparison.Ordinal))
        {
            return await call(await Cli.ReadOutboxAsync("confirm:" + subject, ct));
        }
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
