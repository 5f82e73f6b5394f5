using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using DTrust.Client.Pdf;
using DTrust.Cms;

namespace DTrust.Client.Commands;

/// <summary>Validation data a signature carries with it: CAdES unsigned attributes, or a PDF's DSS.</summary>
internal sealed record EmbeddedValidation(X509Certificate2Collection Certificates, List<byte[]> BasicOcsp, List<byte[]> Crls, string Where);

/// <summary>
/// <c>dtrust verify</c>: a detached CMS beside its file, or a signed PDF on its own. Everything is checked from what
/// the file carries (signature, chain to the given root, time-stamps, embedded revocation data); only a signature
/// without embedded revocation data makes it ask the certificate's OCSP responder, and --offline stops that too.
/// </summary>
internal static class VerifyCommand
{
    private const string TimeStampingEku = "1.3.6.1.5.5.7.3.8";
    private const string OcspSigningEku = "1.3.6.1.5.5.7.3.9";

    public static Command Create()
    {
        var file = new Argument<FileInfo>("file") { Description = "the signed PDF, or the document a .p7s signs" };
        var signature = new Argument<FileInfo?>("signature") { Description = "the detached CMS (FILE.p7s); none for a PDF", Arity = ArgumentArity.ZeroOrOne };
        var ca = new Option<FileInfo?>("--ca") { Description = "PEM root to build the signer's chain to (default: $DTRUST_STATE_DIR/pki/root.pem, else .state/pki/root.pem)" };
        var tokenOut = new Option<FileInfo?>("--timestamp-out") { Description = "write the embedded time-stamp token (DER) here, for openssl ts -verify" };
        var offline = new Option<bool>("--offline") { Description = "do not ask the OCSP responder when the signature embeds no validation data" };
        var command = new Command("verify", "checks a signed PDF or a detached CMS: signature, certificate chain, time-stamps, revocation (embedded, else online), changes after signing")
        {
            file, signature, ca, tokenOut, offline,
        };
        command.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            var target = parse.GetValue(file)!;
            var detached = parse.GetValue(signature);
            Cli.RequireReadable(detached is null ? [target] : [target, detached]);
            var rootPath = parse.GetValue(ca)?.FullName
                ?? Path.Combine(Environment.GetEnvironmentVariable("DTRUST_STATE_DIR") ?? ".state", "pki", "root.pem");
            Cli.RequireReadable([new FileInfo(rootPath)]);
            var roots = new X509Certificate2Collection();
            roots.ImportFromPemFile(rootPath);
            var options = new Checks(roots, parse.GetValue(offline), parse.GetValue(tokenOut));
            if (detached is null)
            {
                return PdfSigning.IsPdf(target)
                    ? await VerifyPdfAsync(target, options, ct)
                    : throw new ArgumentException($"{target.Name} is not a PDF: name the detached signature too (dtrust verify FILE FILE.p7s)");
            }

            var cms = new SignedCms(new ContentInfo(await File.ReadAllBytesAsync(target.FullName, ct)), detached: true);
            try
            {
                cms.Decode(await File.ReadAllBytesAsync(detached.FullName, ct));
            }
            catch (CryptographicException e)
            {
                Console.WriteLine("signature FAILED: not a CMS signature (" + e.Message + ")");
                return 1;
            }

            var signer = cms.SignerInfos[0];
            var (ocsp, crls) = CadesLongTerm.RevocationValues(signer);
            var certValues = CadesLongTerm.CertValues(signer);
            var embedded = certValues.Count > 0 || ocsp.Count > 0 ? new EmbeddedValidation(certValues, ocsp, crls, "embedded") : null;
            var (ok, stamped) = await CheckCmsAsync(cms, options, embedded, "", ct);
            Console.WriteLine($"level          {(embedded is not null ? "B-LT" : stamped ? "B-T" : "B-B")}");
            return ok ? 0 : 1;
        }));
        return command;
    }

    private sealed record Checks(X509Certificate2Collection Roots, bool Offline, FileInfo? TokenOut);

    private static async Task<int> VerifyPdfAsync(FileInfo target, Checks options, CancellationToken ct)
    {
        var revision = PdfRevision.Open(await File.ReadAllBytesAsync(target.FullName, ct), target.Name);
        var fields = PdfSignatures.Fields(revision);
        if (fields.Count == 0)
        {
            Console.WriteLine($"{target.Name}: no signatures");
            return 1;
        }

        var dss = PdfSignatures.Dss(revision);
        EmbeddedValidation? embedded = null;
        if (dss is not null)
        {
            // What in the DSS cannot be read is left out (and so missing), not fatal: the rest may still suffice.
            var certificates = new X509Certificate2Collection();
            foreach (var c in dss.Certificates)
            {
                try
                {
                    certificates.Add(X509CertificateLoader.LoadCertificate(c));
                }
                catch (CryptographicException)
                {
                    Console.WriteLine("DSS: a certificate that cannot be read is ignored");
                }
            }

            var ocsp = new List<byte[]>();
            foreach (var o in dss.OcspResponses)
            {
                try
                {
                    ocsp.Add(CadesLongTerm.BasicResponse(o));
                }
                catch (Exception e) when (e is FormatException or IOException or ArgumentException or InvalidCastException)
                {
                    Console.WriteLine("DSS: an OCSP response that cannot be read is ignored");
                }
            }

            embedded = new EmbeddedValidation(certificates, ocsp, dss.Crls, "DSS");
        }

        // Document time-stamps first: a signature reaches B-LTA only under one that verifies.
        var stamps = fields.Where(f => f.IsDocTimeStamp && f.Problem is null)
            .ToDictionary(f => f, f => CheckDocTimeStamp(f, f.SignedBytes(revision.Bytes), options, print: false));
        var allOk = true;
        foreach (var field in fields.OrderBy(f => f.CoveredEnd))
        {
            if (field.Problem is not null)
            {
                Console.WriteLine($"{field.Name}: FAILED  {field.Problem}");
                allOk = false;
                continue;
            }

            var data = field.SignedBytes(revision.Bytes);
            var whole = field.CoveredEnd == revision.Bytes.Length ? "the whole file" : $"bytes up to {field.CoveredEnd} of {revision.Bytes.Length}";
            Console.WriteLine($"{field.Name} ({field.SubFilter.TrimStart('/')}): covers {whole}");
            bool ok;
            if (field.IsDocTimeStamp)
            {
                ok = CheckDocTimeStamp(field, data, options, print: true);
            }
            else if (field.SubFilter is "/ETSI.CAdES.detached" or "/adbe.pkcs7.detached")
            {
                var cms = new SignedCms(new ContentInfo(data), detached: true);
                try
                {
                    cms.Decode(field.Contents);
                }
                catch (CryptographicException e)
                {
                    Console.WriteLine($"  signature FAILED: not a CMS signature ({e.Message})");
                    allOk = false;
                    continue;
                }

                var (cmsOk, stamped) = await CheckCmsAsync(cms, options, embedded, "  ", ct);
                ok = cmsOk;
                var archived = stamps.Any(s => s.Value && s.Key.CoveredEnd > field.CoveredEnd);
                var level = !stamped ? "B-B" : embedded is null ? "B-T" : archived ? "B-LTA" : "B-LT";
                Console.WriteLine($"  level          PAdES {level}{(level == "B-T" ? " (for LTV: no DSS with the certificates and revocation data)" : level == "B-B" ? " (no signature time-stamp)" : "")}");
            }
            else
            {
                Console.WriteLine($"  signature FAILED: SubFilter {field.SubFilter} is not one this verifier checks");
                allOk = false;
                continue;
            }

            string? change;
            try
            {
                change = PdfSignatures.ChangeAfter(revision, field, fields);
            }
            catch (PdfInputException e)
            {
                change = "the signed bytes do not end a readable revision (" + e.Message + ")";
            }

            Console.WriteLine(change is null
                ? $"  changes after  {(field.CoveredEnd == revision.Bytes.Length ? "none" : "none but signatures, time-stamps and validation data")}"
                : $"  changes after  MODIFIED: {change}");
            allOk &= ok && change is null;
        }

        Console.WriteLine(allOk ? $"result         OK: {fields.Count} signature(s) valid" : "result         FAILED");
        return allOk ? 0 : 1;
    }

    /// <summary>ETSI.RFC3161: the token's imprint is the hash of the ranges, its signature and the TSA's chain hold.</summary>
    private static bool CheckDocTimeStamp(PdfSignatureField field, byte[] data, Checks options, bool print)
    {
        if (!Rfc3161TimestampToken.TryDecode(field.Contents, out var token, out _))
        {
            if (print)
            {
                Console.WriteLine("  time-stamp FAILED: not an RFC 3161 token");
            }

            return false;
        }

        var ok = token.VerifySignatureForData(data, out var tsa, token.AsSignedCms().Certificates);
        var chain = tsa is not null && Chains(tsa, options.Roots, token.AsSignedCms().Certificates, token.TokenInfo.Timestamp.UtcDateTime, TimeStampingEku);
        if (!print)
        {
            return ok && chain;
        }

        Console.WriteLine($"  time-stamp {(ok ? "OK" : "FAILED")}  {token.TokenInfo.Timestamp.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture)}Z by {tsa?.Subject}");
        Console.WriteLine($"  chain {(chain ? "OK" : "FAILED")}       to {options.Roots[0].Subject}");
        if (options.TokenOut is { } target)
        {
            File.WriteAllBytes(target.FullName, field.Contents);
        }

        return ok && chain;
    }

    /// <summary>The signer's signature, its time-stamp, its chain and its revocation status; answers (all good, time-stamped).</summary>
    private static async Task<(bool Ok, bool Stamped)> CheckCmsAsync(SignedCms cms, Checks options, EmbeddedValidation? embedded, string indent, CancellationToken ct)
    {
        var signer = cms.SignerInfos[0];
        try
        {
            signer.CheckSignature(verifySignatureOnly: true);
        }
        catch (CryptographicException e)
        {
            Console.WriteLine($"{indent}signature FAILED: {e.Message}");
            return (false, false);
        }

        var certificate = signer.Certificate!;
        Console.WriteLine($"{indent}signature OK   {certificate.Subject}");
        foreach (var attribute in signer.SignedAttributes)
        {
            if (attribute.Values[0] is Pkcs9SigningTime time)
            {
                Console.WriteLine($"{indent}signing time   {time.SigningTime:yyyy-MM-dd HH:mm:ss}Z (claimed by the signer)");
            }
        }

        var ok = true;
        DateTime? trustedTime = null;
        X509Certificate2? timeStampUnit = null;
        foreach (var attribute in signer.UnsignedAttributes)
        {
            if (attribute.Oid.Value == CmsOids.SignatureTimeStampToken && Rfc3161TimestampToken.TryDecode(attribute.Values[0].RawData, out var token, out _))
            {
                var tokenOk = token.VerifySignatureForSignerInfo(signer, out var tsa, token.AsSignedCms().Certificates);
                trustedTime = token.TokenInfo.Timestamp.UtcDateTime;
                timeStampUnit = tsa;
                Console.WriteLine($"{indent}time-stamp {(tokenOk ? "OK" : "FAILED")}  {token.TokenInfo.Timestamp:yyyy-MM-dd HH:mm:ss.fff}Z by {tsa?.Subject}");
                Console.WriteLine($"{indent}imprint        {Convert.ToHexString(token.TokenInfo.GetMessageHash().Span).ToLowerInvariant()} (hash of the signature value)");
                if (options.TokenOut is { } target)
                {
                    await File.WriteAllBytesAsync(target.FullName, attribute.Values[0].RawData, ct);
                }

                ok &= tokenOk && tsa is not null && Chains(tsa, options.Roots, token.AsSignedCms().Certificates, trustedTime.Value, TimeStampingEku);
            }
        }

        var extra = new X509Certificate2Collection(cms.Certificates);
        if (embedded is not null)
        {
            extra.AddRange(embedded.Certificates);
        }

        var chainOk = Chains(certificate, options.Roots, extra, trustedTime ?? DateTime.UtcNow, null);
        Console.WriteLine($"{indent}chain {(chainOk ? "OK" : "FAILED")}       to {options.Roots[0].Subject}");

        EmbeddedStatus? answer;
        string source;
        if (embedded is not null)
        {
            // B-LT: the revocation status from the data inside the file, checked offline.
            Console.WriteLine($"{indent}validation     {embedded.Certificates.Count} certificate(s), {embedded.BasicOcsp.Count} OCSP answer(s), {embedded.Crls.Count} CRL(s) ({embedded.Where})");
            var issuer = IssuerOf(certificate, options.Roots, extra, trustedTime ?? DateTime.UtcNow);
            answer = embedded.BasicOcsp.Select(o => CadesLongTerm.StatusOf(o, certificate, issuer)).FirstOrDefault(a => a is not null);
            source = embedded.Where + " OCSP";
            var gaps = LongTermGaps(embedded, options.Roots, extra, trustedTime ?? DateTime.UtcNow,
                [certificate, .. timeStampUnit is null ? Array.Empty<X509Certificate2>() : [timeStampUnit]]);
            Console.WriteLine($"{indent}missing (LTV)  {(gaps.Count == 0 ? "nothing" : "revocation data for " + string.Join("; ", gaps))}");
            if (answer is null)
            {
                Console.WriteLine($"{indent}revocation     FAILED: no embedded OCSP answer for the signer's certificate");
                return (false, trustedTime is not null);
            }
        }
        else if (options.Offline)
        {
            Console.WriteLine($"{indent}revocation     not checked (--offline; no validation data embedded)");
            return (ok && chainOk, trustedTime is not null);
        }
        else
        {
            // Nothing inside the file: the certificate's own responder says what is true now.
            Console.WriteLine($"{indent}validation     none embedded; asking the OCSP responder");
            (answer, var problem) = await CadesLongTerm.AskOnlineAsync(certificate, extra, ct);
            source = "online OCSP";
            if (answer is null)
            {
                Console.WriteLine($"{indent}revocation UNKNOWN  {problem}");
                return (false, trustedTime is not null);
            }
        }

        var responderOk = answer.Responder is { } responder && Chains(responder, options.Roots, extra, answer.ProducedAt.UtcDateTime, OcspSigningEku);
        var good = answer is { Status: "good", SignatureOk: true } && responderOk;
        Console.WriteLine($"{indent}revocation {(good ? "OK" : "FAILED")}  {answer.Status} at {answer.ProducedAt:yyyy-MM-dd HH:mm:ss}Z ({source}, " +
            $"signature {(answer.SignatureOk ? "verified" : "FAILED")}, responder {(responderOk ? "chains to the root" : "does not chain")})");
        return (ok && chainOk && good, trustedTime is not null);
    }

    /// <summary>
    /// The certificates below the root, on the chains of <paramref name="leaves"/>, for which the embedded data holds
    /// neither an OCSP answer nor a CRL of their issuer: what a verifier in twenty years could not check.
    /// </summary>
    private static List<string> LongTermGaps(EmbeddedValidation embedded, X509Certificate2Collection roots, X509Certificate2Collection extra,
        DateTime at, IEnumerable<X509Certificate2> leaves)
    {
        var gaps = new List<string>();
        foreach (var leaf in leaves)
        {
            using var chain = TrustChain.Create(roots, extra, at: null);
            chain.Build(leaf);
            // Covered: a good answer from an OCSP response that verifies, or a CRL its issuer signed that holds the time.
            for (var i = 0; i < chain.ChainElements.Count - 1; i++)
            {
                var (c, issuer) = (chain.ChainElements[i].Certificate, chain.ChainElements[i + 1].Certificate);
                var ocsp = embedded.BasicOcsp.Select(o => CadesLongTerm.StatusOf(o, c, issuer)).FirstOrDefault(s => s is not null);
                var crl = CadesLongTerm.CrlStatus(embedded.Crls, c, issuer, at);
                var name = c.GetNameInfo(X509NameType.SimpleName, false);
                var gap = ocsp is { Status: "revoked" } || crl == "revoked" ? name + " (revoked)"
                    : ocsp is { Status: "good", SignatureOk: true } || crl == "good" ? null
                    : name;
                if (gap is not null && !gaps.Contains(gap))
                {
                    gaps.Add(gap);
                }
            }
        }

        return gaps;
    }

    /// <summary>The certificate's issuer on its chain to the root, or null when it does not chain.</summary>
    private static X509Certificate2? IssuerOf(X509Certificate2 certificate, X509Certificate2Collection roots, X509Certificate2Collection extra, DateTime at)
    {
        using var chain = TrustChain.Create(roots, extra, at);
        return chain.Build(certificate) && chain.ChainElements.Count > 1 ? chain.ChainElements[1].Certificate : null;
    }

    private static bool Chains(X509Certificate2 leaf, X509Certificate2Collection roots, X509Certificate2Collection extra, DateTime at, string? eku) =>
        TrustChain.Chains(leaf, roots, extra, at, eku);
}
