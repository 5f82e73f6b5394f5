using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
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
        var files = new Argument<FileInfo[]>("files") { Arity = ArgumentArity.OneOrMore, Description = "the documents to sign" };
        var credential = new Option<string>("--credential") { Required = true };
        var format = new Option<string>("--format") { Description = "cms (CAdES), pades (CMS without signing-time) or raw", DefaultValueFactory = _ => "cms" };
        var timestamp = new Option<bool>("--timestamp") { Description = "add an RFC 3161 time-stamp over each signature (CAdES B-T)" };
        var hash = new Option<string>("--hash") { Description = "sha256, sha384 or sha512", DefaultValueFactory = _ => "sha256" };
        var description = new Option<string?>("--description") { Description = "shown to the holder with the one-time code" };
        var pin = new Option<string?>("--pin") { Description = "activation PIN (asked for when not given)" };
        var otp = new Option<string?>("--otp") { Description = "the one-time code (asked for when needed and not given)" };
        var fromOutbox = new Option<bool>("--otp-from-outbox") { Description = "development: read the code from $DTRUST_STATE_DIR/otp-outbox.jsonl" };
        var pkcs1 = new Option<bool>("--rsa-pkcs1") { Description = "RSA PKCS#1 v1.5 instead of PSS" };
        var level = new Option<string?>("--level")
        {
            Description = "CAdES level: B-B, B-T (= --timestamp) or B-LT (B-T plus the certificates, OCSP answers and CRLs inside the .p7s)",
        };
        var approval = new Option<string>("--approval")
        {
            Description = "holder: the holder approves on the server's page (PIN and code never pass here); explicit: PIN and code " +
                "relayed from here; auto: holder for QUALIFIED credentials, explicit otherwise",
            DefaultValueFactory = _ => "auto",
        };
        var command = new Command("sign", "signs files: one authorization (and one code) per 100 files, writes FILE.p7s (or FILE.sig)")
        {
            files, credential, format, timestamp, hash, description, pin, otp, fromOutbox, pkcs1, approval, level,
        };
        command.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            Cli.RequireReadable(parse.GetValue(files)!);
            using var client = cli.Connect(parse, "partner");
            var (hashName, hashEnum) = HashOf(parse.GetValue(hash)!);
            var signatureFormat = parse.GetValue(format)!.ToUpperInvariant() switch
            {
                "CMS" or "CADES" => SignatureFormat.CmsDetached,
                "PADES" => SignatureFormat.PadesCms,
                "RAW" => SignatureFormat.Raw,
                var other => throw new ArgumentException($"unknown format '{other}'"),
            };
            var all = parse.GetValue(files)!;
            var longTerm = (parse.GetValue(level)?.ToUpperInvariant()) switch
            {
                null or "B-B" or "B-T" => false,
                "B-LT" when signatureFormat == SignatureFormat.CmsDetached => true,
                "B-LT" => throw new ArgumentException("--level B-LT is for CAdES (--format cms)"),
                var other => throw new ArgumentException($"unknown level '{other}' (B-B, B-T or B-LT)"),
            };
            var withTimestamp = parse.GetValue(timestamp) || longTerm || parse.GetValue(level)?.ToUpperInvariant() == "B-T";
            ValidationData? validation = null;
            string? activationPin = parse.GetValue(pin);
            var byHolder = parse.GetValue(approval)!.ToUpperInvariant() switch
            {
                "HOLDER" => true,
                "EXPLICIT" => false,
                "AUTO" => (await client.Credentials.GetCredentialAsync(
                    new GetCredentialRequest { CredentialId = parse.GetValue(credential)! }, cancellationToken: ct)).Level == Level.Qualified,
                var other => throw new ArgumentException($"unknown approval '{other}' (auto, holder or explicit)"),
            };
            var done = 0;
            var summary = new List<(string File, string Level, string Stamp)>();
            foreach (var batch in all.Chunk(BatchSize))
            {
                var hashes = new List<ByteString>();
                foreach (var f in batch)
                {
                    await using var stream = f.OpenRead();
                    hashes.Add(ByteString.CopyFrom(await IncrementalHashAsync(stream, hashName, ct)));
                }

                var authorize = new AuthorizeSignatureRequest
                {
                    CredentialId = parse.GetValue(credential)!,
                    HashAlgorithm = hashEnum,
                    Description = parse.GetValue(description) ?? string.Join(", ", batch.Select(f => f.Name)).Truncate(200),
                };
                authorize.Hashes.AddRange(hashes);
                var request = new SignHashRequest { CredentialId = authorize.CredentialId };
                var askAgain = false;
                if (byHolder)
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

                for (var i = 0; i < batch.Length; i++)
                {
                    var target = batch[i].FullName + (signatureFormat == SignatureFormat.Raw ? ".sig" : ".p7s");
                    var value = signed.Signatures[i].ToByteArray();
                    if (longTerm)
                    {
                        // Fetched after signing, so the OCSP answers are at least as new as the signature.
                        validation ??= await client.Signing.GetValidationDataAsync(
                            new GetValidationDataRequest { CredentialId = authorize.CredentialId }, cancellationToken: ct);
                        value = CadesLongTerm.Extend(
                            value, validation.Certificates.Select(c => c.ToByteArray()), validation.OcspResponses.Select(o => o.ToByteArray()),
                            validation.Crls.Select(c => c.ToByteArray()));
                    }

                    await File.WriteAllBytesAsync(target, value, ct);
                    if (signed.TimestampTokens.Count > i)
                    {
                        await File.WriteAllBytesAsync(target + ".tst", signed.TimestampTokens[i].ToByteArray(), ct);
                    }

                    Console.WriteLine($"signed   {batch[i].Name} -> {Path.GetFileName(target)}");
                    summary.Add((batch[i].Name, signatureFormat == SignatureFormat.Raw ? "raw" : longTerm ? "B-LT" : withTimestamp ? "B-T" : "B-B",
                        StampTime(value, signed.TimestampTokens.Count > i ? signed.TimestampTokens[i].ToByteArray() : null) ?? "-"));
                }

                done += batch.Length;
                if (all.Length > BatchSize)
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
                    .FirstOrDefault(a => a.Oid.Value == "1.2.840.113549.1.9.16.2.14")?.Values[0].RawData;
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

    public static Command Verify()
    {
        var file = new Argument<FileInfo>("file");
        var signature = new Argument<FileInfo>("signature") { Description = "the detached CMS (FILE.p7s)" };
        var ca = new Option<FileInfo?>("--ca") { Description = "PEM root to build the signer's chain to (default: $DTRUST_STATE_DIR/pki/root.pem, else .state/pki/root.pem)" };
        var tokenOut = new Option<FileInfo?>("--timestamp-out") { Description = "write the embedded time-stamp token (DER) here, for openssl ts -verify" };
        var offline = new Option<bool>("--offline") { Description = "do not ask the OCSP responder when the signature embeds no validation data" };
        var command = new Command("verify", "checks a detached CMS: signature, certificate chain, embedded time-stamp, revocation (embedded, else online)") { file, signature, ca, tokenOut, offline };
        command.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            Cli.RequireReadable([parse.GetValue(file)!, parse.GetValue(signature)!]);
            var cms = new SignedCms(new ContentInfo(await File.ReadAllBytesAsync(parse.GetValue(file)!.FullName, ct)), detached: true);
            try
            {
                cms.Decode(await File.ReadAllBytesAsync(parse.GetValue(signature)!.FullName, ct));
                cms.CheckSignature(verifySignatureOnly: true);
            }
            catch (CryptographicException e)
            {
                Console.WriteLine("signature FAILED: " + e.Message);
                return 1;
            }

            var signer = cms.SignerInfos[0];
            var certificate = signer.Certificate!;
            Console.WriteLine($"signature OK   {certificate.Subject}");
            foreach (var attribute in signer.SignedAttributes)
            {
                if (attribute.Values[0] is Pkcs9SigningTime time)
                {
                    Console.WriteLine($"signing time   {time.SigningTime:yyyy-MM-dd HH:mm:ss}Z (claimed by the signer)");
                }
            }

            var ok = true;
            var rootPath = parse.GetValue(ca)?.FullName
                ?? Path.Combine(Environment.GetEnvironmentVariable("DTRUST_STATE_DIR") ?? ".state", "pki", "root.pem");
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(rootPath);
            DateTime? trustedTime = null;
            foreach (var attribute in signer.UnsignedAttributes)
            {
                if (attribute.Oid.Value == "1.2.840.113549.1.9.16.2.14"
                    && Rfc3161TimestampToken.TryDecode(attribute.Values[0].RawData, out var token, out _))
                {
                    var tokenOk = token.VerifySignatureForSignerInfo(signer, out var tsa, token.AsSignedCms().Certificates);
                    trustedTime = token.TokenInfo.Timestamp.UtcDateTime;
                    Console.WriteLine($"time-stamp {(tokenOk ? "OK" : "FAILED")}  {token.TokenInfo.Timestamp:yyyy-MM-dd HH:mm:ss.fff}Z by {tsa?.Subject}");
                    Console.WriteLine($"imprint        {Convert.ToHexString(token.TokenInfo.GetMessageHash().Span).ToLowerInvariant()} (hash of the signature value)");
                    if (parse.GetValue(tokenOut) is { } target)
                    {
                        await File.WriteAllBytesAsync(target.FullName, attribute.Values[0].RawData, ct);
                    }
                    ok &= tokenOk && tsa is not null && Chains(tsa, roots, token.AsSignedCms().Certificates, trustedTime.Value, "1.3.6.1.5.5.7.3.8");
                }
            }

            var embedded = CadesLongTerm.CertValues(signer);
            var extra = new X509Certificate2Collection(cms.Certificates);
            extra.AddRange(embedded);
            var chainOk = Chains(certificate, roots, extra, trustedTime ?? DateTime.UtcNow, null);
            Console.WriteLine($"chain {(chainOk ? "OK" : "FAILED")}       to {roots[0].Subject}");

            // B-LT: the revocation status from the data inside the file, checked offline.
            var (ocsp, crlCount) = CadesLongTerm.RevocationValues(signer);
            if (embedded.Count > 0 || ocsp.Count > 0)
            {
                var answer = ocsp.Select(o => CadesLongTerm.StatusOf(o, certificate)).FirstOrDefault(a => a is not null);
                var responderOk = answer?.Responder is { } responder && Chains(responder, roots, extra, answer.ProducedAt.UtcDateTime, "1.3.6.1.5.5.7.3.9");
                var good = answer is { Status: "good", SignatureOk: true } && responderOk;
                Console.WriteLine($"level          B-LT: {embedded.Count} certificate(s), {ocsp.Count} OCSP answer(s), {crlCount} CRL(s) embedded");
                Console.WriteLine(answer is null
                    ? "revocation     FAILED: no embedded OCSP answer for the signer's certificate"
                    : $"revocation {(good ? "OK" : "FAILED")}  {answer.Status} at {answer.ProducedAt:yyyy-MM-dd HH:mm:ss}Z (embedded OCSP, " +
                        $"signature {(answer.SignatureOk ? "verified" : "FAILED")}, responder {(responderOk ? "chains to the root" : "does not chain")})");
                ok &= good;
            }
            else if (parse.GetValue(offline))
            {
                Console.WriteLine($"level          {(trustedTime is null ? "B-B" : "B-T")}: no validation data embedded (revocation not checked: --offline)");
            }
            else
            {
                // Nothing inside the file: the certificate's own responder says what is true now.
                Console.WriteLine($"level          {(trustedTime is null ? "B-B" : "B-T")}: no validation data embedded; asking the OCSP responder");
                var (answer, problem) = await CadesLongTerm.AskOnlineAsync(certificate, extra, ct);
                var responderOk = answer?.Responder is { } responder && Chains(responder, roots, extra, answer.ProducedAt.UtcDateTime, "1.3.6.1.5.5.7.3.9");
                var good = answer is { Status: "good", SignatureOk: true } && responderOk;
                Console.WriteLine(answer is null
                    ? $"revocation UNKNOWN  {problem}"
                    : $"revocation {(good ? "OK" : "FAILED")}  {answer.Status} at {answer.ProducedAt:yyyy-MM-dd HH:mm:ss}Z (online OCSP, " +
                        $"signature {(answer.SignatureOk ? "verified" : "FAILED")}, responder {(responderOk ? "chains to the root" : "does not chain")})");
                ok &= good;
            }

            return ok && chainOk ? 0 : 1;
        }));
        return command;
    }

    private static bool Chains(X509Certificate2 leaf, X509Certificate2Collection roots, X509Certificate2Collection extra, DateTime at, string? eku)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.ExtraStore.AddRange(extra);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = at;
        if (eku is not null)
        {
            chain.ChainPolicy.ApplicationPolicy.Add(new Oid(eku));
        }

        return chain.Build(leaf);
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
