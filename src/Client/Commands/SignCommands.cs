using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using DTrust.Client.Pdf;
using DTrust.Cms;
using DTrust.Signing.V1;
using Google.Protobuf;
using Grpc.Core;
using HashAlgorithm = DTrust.Signing.V1.HashAlgorithm;

namespace DTrust.Client.Commands;

/// <summary>Partner commands: sign files (their hashes leave the machine, never the files) and verify the results.</summary>
internal static class SignCommands
{
    private const int BatchSize = 100;

    public static Command Sign(Cli cli)
    {
        var files = new Argument<FileInfo[]>("files") { Arity = ArgumentArity.OneOrMore, Description = "the documents to sign (PDFs, or any other files)" };
        var credential = new Option<string?>("--credential") { Description = "a person's credential (the holder approves)" };
        var seal = new Option<string?>("--seal") { Description = "an organisation's seal: signed by this caller, no PIN, no code, no approval" };
        var format = new Option<string>("--format") { Description = "other files: cms (CAdES), pades (CMS without signing-time) or raw", DefaultValueFactory = _ => "cms" };
        var timestamp = new Option<bool>("--timestamp") { Description = "add an RFC 3161 time-stamp over each signature (CAdES B-T)" };
        var hash = new Option<string>("--hash") { Description = "sha256, sha384 or sha512", DefaultValueFactory = _ => "sha256" };
        var description = new Option<string?>("--description") { Description = "shown to the holder with the one-time code" };
        var pin = new Option<string?>("--pin") { Description = "activation PIN (asked for when not given)" };
        var otp = new Option<string?>("--otp") { Description = "the one-time code (asked for when needed and not given)" };
        var fromOutbox = new Option<bool>("--otp-from-outbox") { Description = "development: read the code from $DTRUST_STATE_DIR/otp-outbox.jsonl" };
        var pkcs1 = new Option<bool>("--rsa-pkcs1") { Description = "RSA PKCS#1 v1.5 instead of PSS" };
        var level = new Option<string?>("--level")
        {
            Description = "PDFs: PAdES B-B, B-T (default), B-LT (plus a DSS with certificates, OCSP answers and CRLs) or B-LTA (plus a " +
                "document time-stamp); other files: CAdES B-B, B-T (= --timestamp) or B-LT (the validation data inside the .p7s)",
        };
        var visible = new Option<string?>("--visible") { Description = "PDFs: show the signature at PAGE,X,Y,W,H (points from the lower left, e.g. 1,360,60,200,50)" };
        var invisible = new Option<bool>("--invisible") { Description = "PDFs: no visible box (the default)" };
        var reason = new Option<string?>("--reason") { Description = "PDFs: the reason for signing (/Reason)" };
        var location = new Option<string?>("--location") { Description = "PDFs: where it was signed (/Location)" };
        var approval = new Option<string>("--approval")
        {
            Description = "holder: the holder approves on the server's page (PIN and code never pass here); explicit: PIN and code " +
                "relayed from here; auto: holder for QUALIFIED credentials, explicit otherwise",
            DefaultValueFactory = _ => "auto",
        };
        var command = new Command(
            "sign",
            "signs files with a person's credential (one authorization and one code per 100 files) or an organisation's seal; " +
            "writes FILE-signed.pdf for a PDF, FILE.p7s (or FILE.sig) otherwise")
        {
            files, credential, seal, format, timestamp, hash, description, pin, otp, fromOutbox, pkcs1, approval, level, visible, invisible, reason, location,
        };
        command.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            var all = parse.GetValue(files)!;
            Cli.RequireReadable(all);
            var pdf = all.Select(PdfSigning.IsPdf).Distinct().ToList();
            if (pdf.Count > 1)
            {
                throw new ArgumentException("sign PDFs and other files in separate calls: a PDF gets its signature inside, another file a .p7s beside it");
            }

            var isPdf = pdf[0];
            if (isPdf && all.Select(PdfSigning.TargetOf).FirstOrDefault(File.Exists) is { } exists)
            {
                // A signed PDF is evidence: never overwritten by a second run.
                throw new IOException($"{exists} exists; move it away first");
            }

            if (isPdf && all.Select(PdfSigning.TargetOf).GroupBy(t => t).FirstOrDefault(g => g.Count() > 1) is { } twice)
            {
                throw new ArgumentException($"two inputs would both be written to {twice.Key}");
            }
            if (!isPdf && (parse.GetValue(visible) is not null || parse.GetValue(reason) is not null || parse.GetValue(location) is not null))
            {
                throw new ArgumentException("--visible, --reason and --location are for PDFs");
            }

            if (parse.GetValue(visible) is not null && parse.GetValue(invisible))
            {
                throw new ArgumentException("--visible and --invisible exclude each other");
            }

            var (hashName, hashEnum) = HashOf(parse.GetValue(hash)!);
            var signatureFormat = isPdf ? SignatureFormat.PadesCms : parse.GetValue(format)!.ToUpperInvariant() switch
            {
                "CMS" or "CADES" => SignatureFormat.CmsDetached,
                "PADES" => SignatureFormat.PadesCms,
                "RAW" => SignatureFormat.Raw,
                var other => throw new ArgumentException($"unknown format '{other}'"),
            };
            var wanted = parse.GetValue(level)?.ToUpperInvariant()
                ?? (isPdf ? "B-T" : parse.GetValue(timestamp) ? "B-T" : "B-B");
            if (isPdf ? !PdfSigning.Levels.Contains(wanted) : wanted is not ("B-B" or "B-T" or "B-LT"))
            {
                throw new ArgumentException($"unknown level '{wanted}' ({(isPdf ? "B-B, B-T, B-LT or B-LTA for PDFs" : "B-B, B-T or B-LT; B-LTA is for PDFs")})");
            }

            if (!isPdf && wanted == "B-LT" && signatureFormat != SignatureFormat.CmsDetached)
            {
                throw new ArgumentException("--level B-LT is for CAdES (--format cms)");
            }

            var withTimestamp = wanted != "B-B" || parse.GetValue(timestamp);
            using var client = cli.Connect(parse, "partner");
            var sealing = parse.GetValue(seal) is not null;
            var credentialId = (parse.GetValue(credential), parse.GetValue(seal)) switch
            {
                ({ } person, null) => person,
                (null, { } organisation) => organisation,
                _ => throw new ArgumentException("name either --credential (a person's) or --seal (an organisation's)"),
            };
            var held = await client.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credentialId }, cancellationToken: ct);
            if (sealing != held.Level is Level.QualifiedSeal or Level.AdvancedSeal)
            {
                throw new ArgumentException(sealing ? $"{credentialId} is not a seal; sign with --credential" : $"{credentialId} is a seal; sign with --seal");
            }

            ValidationData? validation = null;
            async Task<ValidationData> ValidationDataAsync() =>
                // Fetched after signing, so the OCSP answers are at least as new as the signature.
                validation ??= await client.Signing.GetValidationDataAsync(
                    new GetValidationDataRequest { CredentialId = credentialId }, cancellationToken: ct);

            string? activationPin = parse.GetValue(pin);
            var byHolder = parse.GetValue(approval)!.ToUpperInvariant() switch
            {
                "HOLDER" => true,
                "EXPLICIT" => false,
                "AUTO" => held.Level == Level.Qualified,
                var other => throw new ArgumentException($"unknown approval '{other}' (auto, holder or explicit)"),
            };
            var done = 0;
            var summary = new List<(string File, string Level, string Stamp)>();
            foreach (var batch in all.Chunk(BatchSize))
            {
                // For a PDF the hash is of its byte ranges once the signature field is added; the file never leaves.
                var hashes = new List<ByteString>();
                var prepared = new List<PreparedSignature>();
                foreach (var f in batch)
                {
                    if (isPdf)
                    {
                        var now = DateTimeOffset.UtcNow;
                        var look = PdfSigning.Appearance(parse.GetValue(visible), X509CertificateLoader.LoadCertificate(held.Certificate.Span), wanted, now);
                        prepared.Add(PdfSigning.Prepare(f, look, now, parse.GetValue(reason), parse.GetValue(location)));
                        hashes.Add(ByteString.CopyFrom(prepared[^1].Hash(hashName)));
                        continue;
                    }

                    await using var stream = f.OpenRead();
                    hashes.Add(ByteString.CopyFrom(await IncrementalHashAsync(stream, hashName, ct)));
                }

                var authorize = new AuthorizeSignatureRequest
                {
                    CredentialId = credentialId,
                    HashAlgorithm = hashEnum,
                    Description = parse.GetValue(description) ?? string.Join(", ", batch.Select(f => f.Name)).Truncate(200),
                };
                authorize.Hashes.AddRange(hashes);
                var request = new SignHashRequest { CredentialId = authorize.CredentialId };
                var askAgain = false;
                if (sealing)
                {
                    // A seal's caller is its activation: SignHash with the hashes alone.
                }
                else if (byHolder)
                {
                    authorize.Labels.AddRange(batch.Select(f => f.Name.Truncate(100)));
                    (request.AuthorizationId, request.Sad) = await HolderApprovalCommands.AwaitApprovalAsync(client, authorize, ct);
                }
                else
                {
                    var challenge = await client.Signing.AuthorizeSignatureAsync(authorize, cancellationToken: ct);
                    var code = "";
                    if (challenge.RequiredFactors.Contains(Factor.Otp))
                    {
                        code = parse.GetValue(fromOutbox)
                            ? await Cli.ReadOutboxAsync(challenge.ChallengeId, ct)
                            : Cli.Secret(parse.GetValue(otp), $"one-time code sent to the holder (challenge {challenge.ChallengeId})");

                        // A code typed at the prompt may be mistyped: ask again while the challenge has attempts left.
                        askAgain = !parse.GetValue(fromOutbox) && string.IsNullOrEmpty(parse.GetValue(otp));
                    }

                    activationPin ??= Cli.Secret(null, "activation PIN");
                    (request.ChallengeId, request.Otp, request.ActivationPin) = (challenge.ChallengeId, code, activationPin);
                }

                request.MergeFrom(new SignHashRequest
                {
                    HashAlgorithm = hashEnum,
                    SignatureFormat = signatureFormat,
                    Timestamp = withTimestamp,
                    RsaPadding = parse.GetValue(pkcs1) ? RsaPadding.Pkcs1V15 : RsaPadding.Pss,
                });
                request.Hashes.AddRange(hashes);
                SignHashResponse signed;
                while (true)
                {
                    try
                    {
                        signed = await client.Signing.SignHashAsync(request, cancellationToken: ct);
                        break;
                    }
                    catch (RpcException e) when (askAgain && e.StatusCode == StatusCode.PermissionDenied
                        && e.Status.Detail.StartsWith("wrong one-time code;", StringComparison.Ordinal)
                        && e.Status.Detail.Contains("attempt(s) left", StringComparison.Ordinal))
                    {
                        await Console.Error.WriteLineAsync(e.Status.Detail);
                        request.Otp = Cli.Secret(null, "one-time code");
                    }
                }

                // PDFs of a batch are finished in memory first (DSS, document time-stamp) and written together after.
                var finished = new List<(string Target, byte[] File)>();
                for (var i = 0; i < batch.Length; i++)
                {
                    if (isPdf)
                    {
                        finished.Add((PdfSigning.TargetOf(batch[i]),
                            await PdfSigning.FinishAsync(client, prepared[i], signed.Signatures[i].ToByteArray(), wanted, ValidationDataAsync, batch[i].Name, ct)));
                    }
                }

                await PdfSigning.WriteAllAsync(finished, ct);
                for (var i = 0; i < batch.Length; i++)
                {
                    var value = signed.Signatures[i].ToByteArray();
                    string target;
                    if (isPdf)
                    {
                        target = finished[i].Target;
                    }
                    else
                    {
                        target = batch[i].FullName + (signatureFormat == SignatureFormat.Raw ? ".sig" : ".p7s");
                        if (wanted == "B-LT")
                        {
                            var data = await ValidationDataAsync();
                            value = CadesLongTerm.Extend(
                                value, data.Certificates.Select(c => c.ToByteArray()), data.OcspResponses.Select(o => o.ToByteArray()),
                                data.Crls.Select(c => c.ToByteArray()));
                        }

                        await File.WriteAllBytesAsync(target, value, ct);
                        if (signed.TimestampTokens.Count > i)
                        {
                            await File.WriteAllBytesAsync(target + ".tst", signed.TimestampTokens[i].ToByteArray(), ct);
                        }
                    }

                    // Many files: the progress line and the closing table say it; a line per file would bury both.
                    if (all.Length <= BatchSize)
                    {
                        Console.WriteLine($"signed   {batch[i].Name} -> {Path.GetFileName(target)}");
                    }

                    var reached = signatureFormat == SignatureFormat.Raw ? "raw" : withTimestamp && wanted == "B-B" ? "B-T" : wanted;
                    summary.Add((batch[i].Name, reached,
                        StampTime(value, signed.TimestampTokens.Count > i ? signed.TimestampTokens[i].ToByteArray() : null) ?? "-"));
                }

                done += batch.Length;
                if (all.Length > BatchSize && !Console.IsErrorRedirected)
                {
                    // One line redrawn in place on a terminal.
                    var bar = new string('#', 30 * done / all.Length).PadRight(30, '.');
                    Console.Error.Write($"\rprogress [{bar}] {done}/{all.Length}{(done == all.Length ? "\n" : "")}");
                }
                else if (all.Length > BatchSize)
                {
                    var bar = new string('#', 30 * done / all.Length).PadRight(30, '.');
                    Console.Error.WriteLine($"progress [{bar}] {done}/{all.Length}");
                }
            }

            // What was made, at a glance: the level reached and the time the TSA vouches for.
            var width = Math.Max(4, summary.Max(r => r.File.Length));
            Console.WriteLine();
            Console.WriteLine($"{"file".PadRight(width)}  level  time-stamp (UTC)");
            foreach (var (name, reached, stamp) in summary)
            {
                Console.WriteLine($"{name.PadRight(width)}  {reached,-5}  {stamp}");
            }

            return 0;
        }));
        return command;
    }

    /// <summary>The time of the signature time-stamp: the RAW token beside it, or the one inside the CMS.</summary>
    private static string? StampTime(byte[] signature, byte[]? rawToken)
    {
        var token = rawToken;
        if (token is null)
        {
            try
            {
                var cms = new SignedCms(new ContentInfo([]), detached: true);
                cms.Decode(signature);
                token = cms.SignerInfos[0].UnsignedAttributes.Cast<CryptographicAttributeObject>()
                    .FirstOrDefault(a => a.Oid.Value == CmsOids.SignatureTimeStampToken)?.Values[0].RawData;
            }
            catch (CryptographicException)
            {
                return null;
            }
        }

        return token is not null && Rfc3161TimestampToken.TryDecode(token, out var decoded, out _)
            ? decoded.TokenInfo.Timestamp.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff", System.Globalization.CultureInfo.InvariantCulture)
            : null;
    }

    private static (HashAlgorithmName Name, HashAlgorithm Wire) HashOf(string name) => name.ToUpperInvariant() switch
    {
        "SHA256" => (HashAlgorithmName.SHA256, HashAlgorithm.Sha256),
        "SHA384" => (HashAlgorithmName.SHA384, HashAlgorithm.Sha384),
        "SHA512" => (HashAlgorithmName.SHA512, HashAlgorithm.Sha512),
        _ => throw new ArgumentException($"unsupported hash '{name}'"),
    };

    private static async Task<byte[]> IncrementalHashAsync(Stream stream, HashAlgorithmName hash, CancellationToken ct)
    {
        using var h = IncrementalHash.CreateHash(hash);
        var buffer = new byte[81920];
        int read;
        while ((read = await stream.ReadAsync(buffer, ct)) > 0)
        {
            h.AppendData(buffer, 0, read);
        }

        return h.GetHashAndReset();
    }

    private static string Truncate(this string value, int max) => value.Length <= max ? value : value[..(max - 1)] + "…";
}
