using System.CommandLine;
using System.Globalization;
using DTrust.Signing.V1;
using Google.Protobuf.WellKnownTypes;

namespace DTrust.Client.Commands;

/// <summary>Operator commands: holders, their identification, and credentials through their lifecycle.</summary>
internal static class CredentialCommands
{
    public static Command Holder(Cli cli)
    {
        var user = new Argument<string>("user") { Description = "the holder's user id in your tenant" };
        var given = new Option<string>("--given-name") { Required = true };
        var surname = new Option<string>("--surname") { Required = true };
        var country = new Option<string>("--country") { Description = "ISO 3166-1 alpha-2, e.g. DE", Required = true };
        var phone = new Option<string>("--phone") { Description = "E.164, receives the one-time codes", Required = true };
        var phoneCode = new Option<string?>("--code")
        {
            Description = "a new phone number: the confirmation code sent to the current number (the first call without it sends one)",
        };
        var set = new Command("set", "creates or updates a holder (new identity data or phone make the identification stale)")
        {
            user, given, surname, country, phone, phoneCode,
        };
        set.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var holder = await client.Credentials.UpsertHolderAsync(
                new UpsertHolderRequest
                {
                    Holder = new Signing.V1.Holder
                    {
                        UserId = parse.GetValue(user)!,
                        GivenName = parse.GetValue(given)!,
                        Surname = parse.GetValue(surname)!,
                        Country = parse.GetValue(country)!,
                        Phone = parse.GetValue(phone)!,
                    },
                    ConfirmationCode = parse.GetValue(phoneCode) ?? "",
                },
                cancellationToken: ct);
            Print(holder);
            return 0;
        }));

        var showUser = new Argument<string>("user");
        var show = new Command("show", "shows a holder and the state of their identification") { showUser };
        show.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            Print(await client.Credentials.GetHolderAsync(new GetHolderRequest { UserId = parse.GetValue(showUser)! }, cancellationToken: ct));
            return 0;
        }));

        var idUser = new Argument<string>("user");
        var method = new Option<string>("--method") { Description = "VIDEO_IDENT, EID, EID_IDENT, POS_IDENT, POSTIDENT, NOTAR_IDENT, EMBASSY_IDENT, OFFICER_IDENT", Required = true };
        var verifiedAt = new Option<DateTimeOffset?>("--verified-at") { Description = "when the identification took place (default: now)" };
        var validUntil = new Option<DateTimeOffset>("--valid-until") { Description = "until when the evidence is valid", Required = true };
        var identify = new Command("identify", "records identification evidence for a holder") { idUser, method, verifiedAt, validUntil };
        identify.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var holder = await client.Credentials.RecordIdentificationAsync(
                new RecordIdentificationRequest
                {
                    UserId = parse.GetValue(idUser)!,
                    Identification = new Identification
                    {
                        Method = ParseEnum<IdentificationMethod>(parse.GetValue(method)!, "IDENTIFICATION_METHOD_"),
                        VerifiedAt = Timestamp.FromDateTimeOffset(parse.GetValue(verifiedAt) ?? DateTimeOffset.UtcNow),
                        ValidUntil = Timestamp.FromDateTimeOffset(parse.GetValue(validUntil)),
                    },
                },
                cancellationToken: ct);
            Print(holder);
            return 0;
        }));

        return new Command("holder", "holders (signers) of your tenant") { set, show, identify };
    }

    public static Command Credential(Cli cli)
    {
        var user = new Argument<string>("user");
        var level = new Option<string>("--level") { Description = "simple, advanced or qualified (seals: dtrust seal enrol)", Required = true };
        var algorithm = new Option<string>("--algorithm") { Description = "ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096", DefaultValueFactory = _ => "ec-p256" };
        var organisation = new Option<string?>("--organisation");
        var function = new Option<string?>("--function");
        var enrol = new Command("enrol", "creates a credential (key in the level's HSM token, certificate); the transport PIN goes to the holder's phone")
        {
            user, level, algorithm, organisation, function,
        };
        enrol.Aliases.Add("enroll");
        enrol.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var response = await client.Credentials.EnrollCredentialAsync(
                new EnrollCredentialRequest
                {
                    UserId = parse.GetValue(user)!,
                    Level = ParseEnum<Level>(parse.GetValue(level)!, "LEVEL_"),
                    KeyAlgorithm = ParseEnum<KeyAlgorithm>(parse.GetValue(algorithm)!.Replace("-", "_", StringComparison.Ordinal), "KEY_ALGORITHM_"),
                    Organisation = parse.GetValue(organisation) ?? "",
                    Function = parse.GetValue(function) ?? "",
                },
                cancellationToken: ct);
            Print(response.Credential);
            Console.WriteLine("transport PIN  sent to the holder's phone on record (development: the outbox)");
            return 0;
        }));

        var activateId = new Argument<string>("credential");
        var transportPin = new Option<string?>("--transport-pin") { Description = "asked for when not given" };
        var newPin = new Option<string?>("--pin") { Description = "the new activation PIN, 6 to 16 digits (asked for when not given)" };
        var pinFromOutbox = new Option<bool>("--transport-pin-from-outbox")
        {
            Description = "development: read the transport PIN from $DTRUST_STATE_DIR/otp-outbox.jsonl, as the holder's phone would receive it",
        };
        var activate = new Command("activate", "sets the activation PIN with the transport PIN: NOT_ACTIVATED → VALID")
        {
            activateId, transportPin, newPin, pinFromOutbox,
        };
        activate.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            Print(await client.Credentials.ActivateCredentialAsync(
                new ActivateCredentialRequest
                {
                    CredentialId = parse.GetValue(activateId)!,
                    TransportPin = parse.GetValue(pinFromOutbox)
                        ? await Cli.ReadOutboxAsync("transport-pin:" + parse.GetValue(activateId), ct)
                        : Cli.Secret(parse.GetValue(transportPin), "transport PIN"),
                    ActivationPin = Cli.Secret(parse.GetValue(newPin), "new activation PIN"),
                },
                cancellationToken: ct));
            return 0;
        }));

        var showId = new Argument<string>("credential");
        var show = new Command("show", "shows one credential") { showId };
        show.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            Print(await client.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = parse.GetValue(showId)! }, cancellationToken: ct));
            return 0;
        }));

        var listUser = new Option<string?>("--user");
        var onlyValid = new Option<bool>("--valid") { Description = "only VALID credentials" };
        var list = new Command("list", "lists your tenant's credentials") { listUser, onlyValid };
        list.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var token = "";
            do
            {
                var page = await client.Credentials.ListCredentialsAsync(
                    new ListCredentialsRequest { UserId = parse.GetValue(listUser) ?? "", OnlyValid = parse.GetValue(onlyValid), PageToken = token },
                    cancellationToken: ct);
                foreach (var c in page.Credentials)
                {
                    Console.WriteLine($"{c.CredentialId}  {Name(c.Status),-22} {Name(c.Level),-14} {Name(c.KeyAlgorithm),-9} {c.UserId}");
                }

                token = page.NextPageToken;
            }
            while (token.Length > 0);
            return 0;
        }));

        var revokeId = new Argument<string>("credential");
        var reason = new Option<string>("--reason") { Description = "unspecified, key-compromise, affiliation-changed, superseded, cessation-of-operation", DefaultValueFactory = _ => "unspecified" };
        var revoke = new Command("revoke", "revokes a credential at once (CRL and OCSP follow within seconds); final") { revokeId, reason };
        revoke.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            Print(await client.Credentials.RevokeCredentialAsync(
                new RevokeCredentialRequest
                {
                    CredentialId = parse.GetValue(revokeId)!,
                    Reason = ParseEnum<RevocationReason>(parse.GetValue(reason)!.Replace("-", "_", StringComparison.Ordinal), "REVOCATION_REASON_"),
                },
                cancellationToken: ct));
            return 0;
        }));

        var unlockId = new Argument<string>("credential");
        var unlockCode = new Option<string?>("--code") { Description = "the confirmation code the holder received (the first call without it sends one)" };
        var unlockFromOutbox = new Option<bool>("--code-from-outbox") { Description = "development: read the holder's confirmation code from the outbox" };
        var unlock = new Command("unlock", "LOCKED → VALID with the holder's confirmation or a second operator; the old PIN stays the only PIN")
        {
            unlockId, unlockCode, unlockFromOutbox,
        };
        unlock.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var id = parse.GetValue(unlockId)!;
            var code = parse.GetValue(unlockFromOutbox) ? await Cli.ReadOutboxAsync("confirm:unlock:" + id, ct) : parse.GetValue(unlockCode);
            Print(await client.Credentials.UnlockCredentialAsync(
                new UnlockCredentialRequest { CredentialId = id, ConfirmationCode = code ?? "" }, cancellationToken: ct));
            return 0;
        }));

        var consentId = new Argument<string>("credential");
        var off = new Option<bool>("--off") { Description = "withdraw the consent" };
        var consent = new Command("consent", "records the holder's consent to sign ADVANCED with the PIN alone") { consentId, off };
        consent.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            Print(await client.Credentials.SetOneFactorConsentAsync(
                new SetOneFactorConsentRequest { CredentialId = parse.GetValue(consentId)!, Consent = !parse.GetValue(off) }, cancellationToken: ct));
            return 0;
        }));

        return new Command("credential", "credentials: enrol, activate, show, list, revoke, unlock, consent")
        {
            enrol, activate, show, list, revoke, unlock, consent,
        };
    }

    /// <summary>"qualified" → LEVEL_QUALIFIED, "VIDEO_IDENT" → IDENTIFICATION_METHOD_VIDEO_IDENT.</summary>
    internal static T ParseEnum<T>(string value, string prefix)
        where T : struct, System.Enum
    {
        var wanted = prefix + value.ToUpperInvariant();
        foreach (var field in typeof(T).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static))
        {
            var original = field.GetCustomAttributes(typeof(Google.Protobuf.Reflection.OriginalNameAttribute), false)
                .OfType<Google.Protobuf.Reflection.OriginalNameAttribute>().FirstOrDefault()?.Name;
            if (original == wanted && !original.EndsWith("_UNSPECIFIED", StringComparison.Ordinal))
            {
                return (T)field.GetValue(null)!;
            }
        }

        throw new ArgumentException($"'{value}' is not one of the accepted values");
    }

    internal static string Name<T>(T value)
        where T : struct, System.Enum
    {
        var field = typeof(T).GetField(value.ToString());
        var original = field?.GetCustomAttributes(typeof(Google.Protobuf.Reflection.OriginalNameAttribute), false)
            .OfType<Google.Protobuf.Reflection.OriginalNameAttribute>().FirstOrDefault()?.Name ?? value.ToString();
        foreach (var prefix in new[] { "LEVEL_", "KEY_ALGORITHM_", "CREDENTIAL_STATUS_", "IDENTIFICATION_METHOD_", "CALLER_ROLE_" })
        {
            if (original.StartsWith(prefix, StringComparison.Ordinal))
            {
                return original[prefix.Length..];
            }
        }

        return original;
    }

    private static void Print(Signing.V1.Holder h)
    {
        Console.WriteLine($"holder         {h.UserId}: {h.GivenName} {h.Surname}, {h.Country}, {h.Phone}");
        Console.WriteLine(h.Identification is null
            ? "identification none"
            : $"identification {Name(h.Identification.Method)} until {h.Identification.ValidUntil.ToDateTimeOffset():yyyy-MM-dd}{(h.IdentificationStale ? " (STALE: identity data changed)" : "")}");
    }

    internal static void Print(Signing.V1.Credential c)
    {
        Console.WriteLine($"credential     {c.CredentialId}");
        Console.WriteLine($"status         {Name(c.Status)}");
        Console.WriteLine($"level          {Name(c.Level)} ({Name(c.KeyAlgorithm)}){(c.OneFactorConsent ? ", one-factor consent" : "")}");
        Console.WriteLine($"holder         {c.UserId}{(c.Organisation.Length > 0 ? ", " + c.Organisation : "")}{(c.Function.Length > 0 ? ", " + c.Function : "")}");
        if (c.SealCallers.Count > 0)
        {
            Console.WriteLine($"seal callers   {string.Join(", ", c.SealCallers)}");
        }

        if (!c.Certificate.IsEmpty)
        {
            using var cert = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(c.Certificate.Span);
            Console.WriteLine($"certificate    {cert.Subject}");
            Console.WriteLine($"serial         {cert.SerialNumber}, valid until {cert.NotAfter.ToUniversalTime().ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)}");
        }
    }
}
