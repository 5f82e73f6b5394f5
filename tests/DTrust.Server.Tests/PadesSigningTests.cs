using System.Formats.Asn1;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;

namespace DTrust.Server.Tests;

/// <summary>
/// PAdES through the CLI (docs/examples/contract.pdf signed as a partner would), judged by verifiers nobody here
/// wrote: poppler's pdfsig with an NSS database that trusts the dev root, qpdf --check, openssl (ts -verify over the
/// document time-stamp, ocsp -respin over every OCSP answer of the DSS, objects read out by qpdf) and PKI.js over
/// the CMS in the PDF. dtrust verify must agree, and must notice a changed byte and a changed page.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed partial class PadesSigningTests(ServerFixture fixture) : IAsyncLifetime
{
    private ServerProcess Server => fixture.Server;

    private string _dir = "";
    private string _nss = "";
    private string _credential = "";

    private string Key => Path.Combine(Server.StateDir, "keys", "partner.key");

    private static string Example => Path.Combine(RepoPaths.Root, "docs", "examples", "contract.pdf");

    public async Task InitializeAsync()
    {
        _dir = Directory.CreateTempSubdirectory("dtrust-pades-").FullName;
        _nss = Path.Combine(_dir, "nss");
        Directory.CreateDirectory(_nss);
        (await ProcessRunner.RunAsync("certutil", ["-N", "-d", "sql:" + _nss, "--empty-password"])).EnsureSuccess("certutil -N");
        (await ProcessRunner.RunAsync("certutil", ["-A", "-n", "dtrust-dev-root", "-t", "CT,C,C", "-i", Server.Pki("root.pem"), "-d", "sql:" + _nss]))
            .EnsureSuccess("certutil -A");
        using var op = DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("operator"));
        _credential = (await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced)).CredentialId;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }

    [Theory]
    [InlineData("B-T", false)]
    [InlineData("B-T", true)]
    [InlineData("B-LT", true)]
    [InlineData("B-LTA", false)]
    public async Task Each_level_verifies_with_pdfsig_qpdf_openssl_and_dtrust(string level, bool visible)
    {
        var input = Copy($"contract-{level}-{(visible ? "visible" : "invisible")}.pdf");
        var signed = await SignAsync([input], level, visible ? ["--visible", "1,360,62,200,48", "--reason", "I agree", "--location", "Berlin"] : ["--invisible"]);
        var output = Path.ChangeExtension(input, null) + "-signed.pdf";
        Assert.Matches($@"{Regex.Escape(Path.GetFileName(input))} +{level} +20\d\d-", signed);

        var pdfsig = await PdfsigAsync(output);
        Assert.Contains("Signature Type: ETSI.CAdES.detached", pdfsig, StringComparison.Ordinal);
        Assert.Contains("Signature Validation: Signature is Valid.", pdfsig, StringComparison.Ordinal);
        Assert.Contains("Certificate Validation: Certificate is Trusted.", pdfsig, StringComparison.Ordinal);
        // B-T is one revision that covers the file; B-LT and B-LTA add revisions after the signature.
        Assert.Contains(level == "B-T" ? "Total document signed" : "Not total document signed", pdfsig, StringComparison.Ordinal);
        var check = await ProcessRunner.RunAsync("qpdf", ["--check", output]);
        Assert.True(check.ExitCode == 0, check.StdOut + check.StdErr);

        var verified = await Tools.DtrustAsync(Server, Key, "verify", output, "--ca", Server.Pki("root.pem"), "--offline");
        Assert.True(verified.ExitCode == 0, verified.StdOut + verified.StdErr);
        Assert.Matches($@"(?m)^  level +PAdES {Regex.Escape(level)}( |$)", verified.StdOut);
        Assert.Contains("result         OK", verified.StdOut, StringComparison.Ordinal);

        // PKI.js over the CMS and the signed byte ranges, taken out of the file by its /ByteRange.
        var bytes = await File.ReadAllBytesAsync(output);
        var (cms, data) = SignedParts(bytes, 0);
        await File.WriteAllBytesAsync(Path.Combine(_dir, level + ".cms"), cms);
        await File.WriteAllBytesAsync(Path.Combine(_dir, level + ".data"), data);
        var pkijs = await PeerSigningTests.PkiJsAsync(Path.Combine(_dir, level + ".cms"), Path.Combine(_dir, level + ".data"), Server.Pki("root.pem"), Server.Pki("tsa.pem"));
        Assert.True(pkijs.GetProperty("signatureVerified").GetBoolean(), pkijs.ToString());
        Assert.True(pkijs.GetProperty("timestampImprintMatches").GetBoolean(), pkijs.ToString());

        if (level is "B-LT" or "B-LTA")
        {
            // Everything under the root has revocation data in the DSS: the signer (OCSP, CA CRL), the CA and the TSA (root CRL).
            Assert.Contains("missing (LTV)  nothing", verified.StdOut, StringComparison.Ordinal);
            // Every OCSP answer in the DSS, as qpdf reads it out, verifies with openssl against the dev root.
            var dss = await DssAsync(output);
            Assert.NotEmpty(dss.GetProperty("/Certs").EnumerateArray());
            Assert.NotEmpty(dss.GetProperty("/CRLs").EnumerateArray());
            // The VRI entry is named by the SHA-1 of the signature's /Contents value (the zero padding included).
            var hole = ByteRangePattern().Match(Encoding.Latin1.GetString(bytes));
            var (from, to) = (int.Parse(hole.Groups[2].Value, CultureInfo.InvariantCulture), int.Parse(hole.Groups[3].Value, CultureInfo.InvariantCulture));
#pragma warning disable CA5350 // the VRI key is defined as SHA-1
            var vriKey = "/" + Convert.ToHexString(System.Security.Cryptography.SHA1.HashData(Convert.FromHexString(Encoding.ASCII.GetString(bytes, from + 1, to - from - 2))));
#pragma warning restore CA5350
            Assert.Equal(vriKey, Assert.Single(dss.GetProperty("/VRI").EnumerateObject()).Name);
            Assert.NotEmpty(dss.GetProperty("/OCSPs").EnumerateArray());
            foreach (var reference in dss.GetProperty("/OCSPs").EnumerateArray())
            {
                var der = Path.Combine(_dir, level + "-ocsp.der");
                await File.WriteAllBytesAsync(der, await RawStreamAsync(output, reference.GetString()!));
                var ocsp = await Tools.OpensslAsync("ocsp", "-respin", der, "-CAfile", Server.Pki("root.pem"), "-verify_other", Server.Pki("chain-advanced.pem"), "-resp_text");
                Assert.True(ocsp.ExitCode == 0, ocsp.StdOut + ocsp.StdErr);
                Assert.Contains("Response verify OK", ocsp.StdErr + ocsp.StdOut, StringComparison.Ordinal);
                Assert.Contains("Cert Status: good", ocsp.StdOut, StringComparison.Ordinal);
            }
        }

        if (level == "B-LTA")
        {
            // The document time-stamp is the last signature and covers the whole file; openssl checks it over the ranges.
            Assert.Contains("Signature Type: unknown", pdfsig, StringComparison.Ordinal); // pdfsig 22.12 does not validate ETSI.RFC3161
            var (token, stamped) = SignedParts(bytes, 1);
            Assert.Equal(bytes.Length - 2 - (2 * 16384), stamped.Length);
            await File.WriteAllBytesAsync(Path.Combine(_dir, "doc.tst"), token);
            await File.WriteAllBytesAsync(Path.Combine(_dir, "doc.data"), stamped);
            var ts = await Tools.OpensslAsync("ts", "-verify", "-token_in", "-in", Path.Combine(_dir, "doc.tst"), "-data", Path.Combine(_dir, "doc.data"),
                "-CAfile", Server.Pki("root.pem"), "-untrusted", Server.Pki("tsa.pem"));
            Assert.True(ts.ExitCode == 0, ts.StdOut + ts.StdErr);
            Assert.Contains("Verification: OK", ts.StdOut, StringComparison.Ordinal);
        }

        if (visible)
        {
            await AssertSignatureBoxRendersAsync(output, level);
        }
    }

    [Fact]
    public async Task Two_pdfs_sign_under_one_authorization_and_an_earlier_signature_stays_valid()
    {
        var first = Copy("first.pdf");
        await SignAsync([first], "B-T", []);
        var once = Path.Combine(_dir, "first-signed.pdf");
        // The second in PDF 1.5 form (object streams, a cross-reference stream): the update adds a stream too.
        var other = Path.Combine(_dir, "second.pdf");
        (await ProcessRunner.RunAsync("qpdf", ["--object-streams=generate", Example, other])).EnsureSuccess("qpdf --object-streams=generate");
        var before = Tools.AuditCount(Server, _credential, "signature.created");

        var output = await SignAsync([once, other], "B-LT", ["--visible", "1,360,62,200,48"]);
        Assert.Contains("first-signed.pdf -> first-signed-signed.pdf", output, StringComparison.Ordinal);
        Assert.Contains("second.pdf -> second-signed.pdf", output, StringComparison.Ordinal);
        Assert.Equal(before + 2, Tools.AuditCount(Server, _credential, "signature.created"));

        // The first signature still verifies over its own revision; both are listed, both valid.
        var twice = Path.Combine(_dir, "first-signed-signed.pdf");
        var pdfsig = await PdfsigAsync(twice);
        Assert.Contains("Signature #2:", pdfsig, StringComparison.Ordinal);
        Assert.Equal(2, Regex.Count(pdfsig, "Signature Validation: Signature is Valid."));
        var verified = await Tools.DtrustAsync(Server, Key, "verify", twice, "--ca", Server.Pki("root.pem"), "--offline");
        Assert.True(verified.ExitCode == 0, verified.StdOut + verified.StdErr);
        Assert.Contains("Signature1 (ETSI.CAdES.detached): covers bytes up to", verified.StdOut, StringComparison.Ordinal);
        Assert.Contains("changes after  none but signatures, time-stamps and validation data", verified.StdOut, StringComparison.Ordinal);
        Assert.Contains("result         OK: 2 signature(s) valid", verified.StdOut, StringComparison.Ordinal);
        var compressed = Path.Combine(_dir, "second-signed.pdf");
        Assert.Contains("Signature Validation: Signature is Valid.", await PdfsigAsync(compressed), StringComparison.Ordinal);
        Assert.Equal(0, (await ProcessRunner.RunAsync("qpdf", ["--check", compressed])).ExitCode);
        Assert.Equal(0, (await Tools.DtrustAsync(Server, Key, "verify", compressed, "--ca", Server.Pki("root.pem"), "--offline")).ExitCode);
    }

    [Fact]
    public async Task A_changed_byte_and_a_changed_page_are_detected()
    {
        var input = Copy("tamper.pdf");
        await SignAsync([input], "B-T", []);
        var signed = await File.ReadAllBytesAsync(Path.Combine(_dir, "tamper-signed.pdf"));

        // One byte of the page's text, inside the signed range.
        var changed = (byte[])signed.Clone();
        var at = IndexOf(changed, "EUR 25,000.00");
        changed[at + 4] = (byte)'9';
        var byteChanged = Path.Combine(_dir, "byte-changed.pdf");
        await File.WriteAllBytesAsync(byteChanged, changed);
        var pdfsig = await PdfsigAsync(byteChanged, expectValid: false);
        Assert.Contains("Signature Validation: Digest Mismatch.", pdfsig, StringComparison.Ordinal);
        var verified = await Tools.DtrustAsync(Server, Key, "verify", byteChanged, "--ca", Server.Pki("root.pem"), "--offline");
        Assert.Equal(1, verified.ExitCode);
        Assert.Contains("signature FAILED", verified.StdOut, StringComparison.Ordinal);

        // An incremental update after signing that gives the page other content: the signature is intact, the document is not.
        var text = Encoding.Latin1.GetString(signed);
        var contents = ObjectHeaderPattern().Matches(text[..text.IndexOf("EUR 25,000.00", StringComparison.Ordinal)])[^1].Groups[1].Value;
        var startxref = StartXrefPattern().Matches(text)[^1].Groups[1].Value;
        var size = SizePattern().Matches(text)[^1].Groups[1].Value;
        var root = RootPattern().Matches(text)[^1].Groups[1].Value;
        var body = "BT /F1 20 Tf 72 700 Td (EUR 95,000.00) Tj ET";
        var update = $"\n{contents} 0 obj\n<< /Length {body.Length} >>\nstream\n{body}\nendstream\nendobj\n";
        var offset = signed.Length + 1;
        var xrefAt = signed.Length + update.Length;
        update += $"xref\n{contents} 1\n{offset:D10} 00000 n\r\ntrailer\n<< /Size {size} /Root {root} /Prev {startxref} >>\nstartxref\n{xrefAt}\n%%EOF\n";
        var pageChanged = Path.Combine(_dir, "page-changed.pdf");
        await File.WriteAllBytesAsync(pageChanged, [.. signed, .. Encoding.Latin1.GetBytes(update)]);
        verified = await Tools.DtrustAsync(Server, Key, "verify", pageChanged, "--ca", Server.Pki("root.pem"), "--offline");
        Assert.Equal(1, verified.ExitCode);
        Assert.Contains("signature OK", verified.StdOut, StringComparison.Ordinal);
        Assert.Contains($"changes after  MODIFIED: object {contents}", verified.StdOut, StringComparison.Ordinal);
        Assert.Contains("Not total document signed", await PdfsigAsync(pageChanged), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_pdfs_get_one_line_and_nothing_is_written()
    {
        var fake = Path.Combine(_dir, "fake.pdf");
        await File.WriteAllTextAsync(fake, "this is not a PDF\n");
        var encrypted = Path.Combine(_dir, "encrypted.pdf");
        (await ProcessRunner.RunAsync("qpdf", ["--encrypt", "", "owner-secret", "256", "--", Example, encrypted])).EnsureSuccess("qpdf --encrypt");
        var damaged = Copy("damaged.pdf");
        var bytes = await File.ReadAllBytesAsync(damaged);
        var table = IndexOf(bytes, "\nxref\n");
        var entry = IndexOf(bytes[table..], " 00000 n") + table - 10;
        bytes[entry + 9] = (byte)(bytes[entry + 9] == (byte)'1' ? '2' : '1'); // object 1 now lies at a wrong offset
        await File.WriteAllBytesAsync(damaged, bytes);
        var open = Copy("open.pdf");

        foreach (var (file, message, extra) in new[]
        {
            (fake, "fake.pdf: not a PDF (no %PDF- header)", Array.Empty<string>()),
            (encrypted, "encrypted.pdf: the PDF is encrypted", []),
            (damaged, "damaged.pdf: damaged cross-reference table (object", []),
            (open, "--visible '1,2,3': expected PAGE,X,Y,W,H", ["--visible", "1,2,3"]),
            (open, "page 4 does not exist (the document has 1)", ["--visible", "4,10,10,100,40"]),
        })
        {
            var result = await Tools.DtrustAsync(Server, Key, ["sign", file, "--credential", _credential, "--approval", "explicit", "--otp-from-outbox",
                "--pin", SigningFlowTests.Pin, .. extra]);
            Assert.True(result.ExitCode == 1, result.StdOut + result.StdErr);
            Assert.Contains(message, result.StdErr, StringComparison.Ordinal);
            Assert.Single(result.StdErr.Trim().Split('\n'));
            Assert.DoesNotContain("   at ", result.StdErr, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.ChangeExtension(file, null) + "-signed.pdf"), file);
        }

        Assert.Empty(Directory.GetFiles(_dir, "*.partial"));

        // A signed PDF already there is never replaced.
        await SignAsync([open], "B-T", []);
        var target = Path.Combine(_dir, "open-signed.pdf");
        var before = await File.ReadAllBytesAsync(target);
        var again = await Tools.DtrustAsync(Server, Key, "sign", open, "--credential", _credential, "--approval", "explicit", "--otp-from-outbox", "--pin", SigningFlowTests.Pin);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("open-signed.pdf exists; move it away first", again.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, await File.ReadAllBytesAsync(target));

        var verify = await Tools.DtrustAsync(Server, Key, "verify", fake, "--ca", Server.Pki("root.pem"));
        Assert.Equal(1, verify.ExitCode);
        Assert.Contains("fake.pdf: not a PDF", verify.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_nested_page_tree_keeps_its_inherited_attributes_and_the_page_is_written_as_it_was()
    {
        // Resources and MediaBox inherited from the page-tree nodes; the page itself names neither.
        var source = Path.Combine(_dir, "nested.src.pdf");
        await File.WriteAllTextAsync(source, """
            %PDF-1.7
            1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
            2 0 obj << /Type /Pages /Kids [6 0 R] /Count 1 /MediaBox [0 0 595 842] >> endobj
            6 0 obj << /Type /Pages /Parent 2 0 R /Kids [3 0 R] /Count 1 /Resources << /Font << /F1 4 0 R >> >> >> endobj
            3 0 obj << /Type /Page /Parent 6 0 R /Contents 5 0 R >> endobj
            4 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >> endobj
            5 0 obj << /Length 0 >>
            stream
            BT /F1 20 Tf 72 760 Td (Inherited resources, nested page tree) Tj ET
            endstream
            endobj
            trailer << /Root 1 0 R /Size 7 >>
            %%EOF
            """);
        var input = Path.Combine(_dir, "nested.pdf");
        var repaired = await ProcessRunner.RunAsync("qpdf", ["--static-id", "--compress-streams=n", "--object-streams=disable", source, input]);
        Assert.True(repaired.ExitCode is 0 or 3, repaired.StdErr); // 3: repaired with warnings (the source has no xref)
        await SignAsync([input], "B-T", ["--visible", "1,360,62,200,48"]);
        var output = Path.Combine(_dir, "nested-signed.pdf");

        var page = await ObjectAsync(output, o => o.TryGetProperty("/Type", out var t) && t.GetString() == "/Page");
        Assert.Equal(["/Annots", "/Contents", "/Parent", "/Type"], page.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Contains("Signature Validation: Signature is Valid.", await PdfsigAsync(output), StringComparison.Ordinal);
        Assert.Equal(0, (await ProcessRunner.RunAsync("qpdf", ["--check", output])).ExitCode);
        var text = await ProcessRunner.RunAsync("pdftotext", [output, "-"]);
        Assert.Contains("Inherited resources, nested page tree", text.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Later_revisions_that_replace_the_catalog_or_add_an_annotation_are_reported_modified()
    {
        var input = Copy("attacked.pdf");
        await SignAsync([input], "B-T", ["--invisible"]);
        var signed = await File.ReadAllBytesAsync(Path.Combine(_dir, "attacked-signed.pdf"));
        var text = Encoding.Latin1.GetString(signed);
        var size = int.Parse(SizePattern().Matches(text)[^1].Groups[1].Value, CultureInfo.InvariantCulture);
        var root = RootPattern().Matches(text)[^1].Groups[1].Value;
        var catalog = LastObject(text, "/Type/Catalog");
        var page = LastObject(text, "/Type/Page");

        // A new catalog with a new page tree, keeping the AcroForm so the signature is still found.
        var acroForm = Regex.Match(catalog.Body, @"/AcroForm\s*(\d+ 0 R)").Groups[1].Value;
        var (newCatalog, newPages, newPage, newContent) = (size, size + 1, size + 2, size + 3);
        var swapped = AppendUpdate(signed, [
            (newCatalog, $"<< /Type /Catalog /Pages {newPages} 0 R /AcroForm {acroForm} >>"),
            (newPages, $"<< /Type /Pages /Kids [{newPage} 0 R] /Count 1 >>"),
            (newPage, $"<< /Type /Page /Parent {newPages} 0 R /MediaBox [0 0 595 842] /Contents {newContent} 0 R >>"),
            (newContent, "<< /Length 0 >>\nstream\nendstream"),
        ], $"{newCatalog} 0 R", size + 4);
        var swappedFile = Path.Combine(_dir, "catalog-swapped.pdf");
        await File.WriteAllBytesAsync(swappedFile, swapped);
        var verified = await Tools.DtrustAsync(Server, Key, "verify", swappedFile, "--ca", Server.Pki("root.pem"), "--offline");
        Assert.Equal(1, verified.ExitCode);
        Assert.Contains("signature OK", verified.StdOut, StringComparison.Ordinal);
        Assert.Contains("changes after  MODIFIED: the document catalog was replaced (/Root)", verified.StdOut, StringComparison.Ordinal);

        // A square annotation over the text, and a signature-looking widget whose signature is not in the file.
        var annotation = size;
        var annotated = AppendUpdate(signed, [
            (annotation, "<< /Type /Annot /Subtype /Square /Rect [60 560 500 600] /C [1 0 0] >>"),
            (page.Number, Regex.Replace(page.Body, @"/Annots\s*\[([^\]]*)\]", m => $"/Annots[{m.Groups[1].Value} {annotation} 0 R]")),
        ], root, size + 1);
        var annotatedFile = Path.Combine(_dir, "annotated.pdf");
        await File.WriteAllBytesAsync(annotatedFile, annotated);
        verified = await Tools.DtrustAsync(Server, Key, "verify", annotatedFile, "--ca", Server.Pki("root.pem"), "--offline");
        Assert.Equal(1, verified.ExitCode);
        Assert.Contains("changes after  MODIFIED: /Annots gained an entry that is not the widget of a signature in this file", verified.StdOut, StringComparison.Ordinal);

        var (fake, fakeValue) = (size, size + 1);
        var faked = AppendUpdate(signed, [
            (fake, $"<< /Type /Annot /Subtype /Widget /FT /Sig /T (Approved) /V {fakeValue} 0 R /Rect [60 560 500 600] /P {page.Number} 0 R >>"),
            (fakeValue, "<< /Type /Sig /ByteRange [0 10 20 30] /Contents <00> >>"),
            (page.Number, Regex.Replace(page.Body, @"/Annots\s*\[([^\]]*)\]", m => $"/Annots[{m.Groups[1].Value} {fake} 0 R]")),
        ], root, size + 2);
        var fakedFile = Path.Combine(_dir, "faked-widget.pdf");
        await File.WriteAllBytesAsync(fakedFile, faked);
        verified = await Tools.DtrustAsync(Server, Key, "verify", fakedFile, "--ca", Server.Pki("root.pem"), "--offline");
        Assert.Equal(1, verified.ExitCode);
        Assert.Contains("changes after  MODIFIED: /Annots gained an entry that is not the widget of a signature in this file", verified.StdOut, StringComparison.Ordinal);
    }

    /// <summary>The last definition of the object whose dictionary contains <paramref name="marker"/> (PDFsharp writes it compact).</summary>
    private static (int Number, string Body) LastObject(string pdf, string marker)
    {
        var match = Regex.Matches(pdf, @"(\d+) 0 obj\s*(<<(?:(?!endobj).)*?)\s*endobj", RegexOptions.Singleline)
            .Last(m => Regex.IsMatch(m.Groups[2].Value, Regex.Escape(marker).Replace("/", @"\s*/", StringComparison.Ordinal) + @"\b"));
        return (int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), match.Groups[2].Value);
    }

    /// <summary>An incremental update as an attacker (or another tool) would append it: objects, a table, a trailer.</summary>
    private static byte[] AppendUpdate(byte[] pdf, (int Number, string Body)[] objects, string root, int size)
    {
        var text = Encoding.Latin1.GetString(pdf);
        var startxref = StartXrefPattern().Matches(text)[^1].Groups[1].Value;
        var update = new StringBuilder("\n");
        var offsets = new List<(int Number, long Offset)>();
        foreach (var (number, body) in objects)
        {
            offsets.Add((number, pdf.Length + update.Length));
            update.Append(CultureInfo.InvariantCulture, $"{number} 0 obj\n{body}\nendobj\n");
        }

        var xrefAt = pdf.Length + update.Length;
        update.Append("xref\n");
        foreach (var (number, offset) in offsets)
        {
            update.Append(CultureInfo.InvariantCulture, $"{number} 1\n{offset:D10} 00000 n\r\n");
        }

        update.Append(CultureInfo.InvariantCulture, $"trailer\n<< /Size {size} /Root {root} /Prev {startxref} >>\nstartxref\n{xrefAt}\n%%EOF\n");
        return [.. pdf, .. Encoding.Latin1.GetBytes(update.ToString())];
    }

    /// <summary>The first object qpdf (JSON v2) reports whose dictionary matches.</summary>
    private static async Task<JsonElement> ObjectAsync(string file, Func<JsonElement, bool> match)
    {
        var json = await ProcessRunner.RunAsync("qpdf", ["--json=2", "--json-key=qpdf", file]);
        json.EnsureSuccess("qpdf --json");
        using var doc = JsonDocument.Parse(json.StdOut);
        foreach (var obj in doc.RootElement.GetProperty("qpdf")[1].EnumerateObject())
        {
            if (obj.Value.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.Object && match(value))
            {
                return value.Clone();
            }
        }

        throw new InvalidOperationException("no such object in " + file);
    }

    private string Copy(string name)
    {
        var path = Path.Combine(_dir, name);
        File.Copy(Example, path, overwrite: true);
        return path;
    }

    private async Task<string> SignAsync(string[] files, string level, string[] extra)
    {
        var result = await Tools.DtrustAsync(Server, Key, ["sign", .. files, "--credential", _credential, "--level", level,
            "--approval", "explicit", "--otp-from-outbox", "--pin", SigningFlowTests.Pin, .. extra]);
        Assert.True(result.ExitCode == 0, result.StdOut + result.StdErr);
        return result.StdOut;
    }

    private async Task<string> PdfsigAsync(string file, bool expectValid = true)
    {
        var result = await ProcessRunner.RunAsync("pdfsig", ["-nssdir", "sql:" + _nss, file]);
        Assert.True(!expectValid || result.ExitCode == 0, result.StdOut + result.StdErr);
        return result.StdOut;
    }

    /// <summary>The DSS dictionary as qpdf reads it (JSON v2), not as our own reader does.</summary>
    private static Task<JsonElement> DssAsync(string file) =>
        ObjectAsync(file, o => o.TryGetProperty("/Type", out var type) && type.GetString() == "/DSS");

    private static async Task<byte[]> RawStreamAsync(string file, string reference)
    {
        var number = reference.Split(' ')[0];
        var psi = new System.Diagnostics.ProcessStartInfo("qpdf", ["--show-object=" + number, "--raw-stream-data", file]) { RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(psi)!;
        using var buffer = new MemoryStream();
        await process.StandardOutput.BaseStream.CopyToAsync(buffer);
        await process.WaitForExitAsync();
        Assert.Equal(0, process.ExitCode);
        return buffer.ToArray();
    }

    /// <summary>The n-th signature's /Contents (DER without its zero padding) and the bytes its /ByteRange covers.</summary>
    private static (byte[] Contents, byte[] Data) SignedParts(byte[] pdf, int index)
    {
        var match = ByteRangePattern().Matches(Encoding.Latin1.GetString(pdf))[index];
        var r = Enumerable.Range(1, 4).Select(i => int.Parse(match.Groups[i].Value, CultureInfo.InvariantCulture)).ToArray();
        var padded = Convert.FromHexString(Encoding.ASCII.GetString(pdf, r[1] + 1, r[2] - r[1] - 2));
        AsnDecoder.ReadEncodedValue(padded, AsnEncodingRules.BER, out _, out _, out var length);
        return (padded[..length], [.. pdf[r[0]..r[1]], .. pdf[r[2]..(r[2] + r[3])]]);
    }

    /// <summary>
    /// pdftoppm renders the signed page; compared with the unsigned page, every changed pixel lies inside the
    /// signature's box (and some do). The rendering is kept in docs/pdf for the README.
    /// </summary>
    private async Task AssertSignatureBoxRendersAsync(string signedPdf, string level)
    {
        const int Dpi = 72; // one pixel per point: the box is at x 360–560, y 62–110 from the bottom of an 842 pt page
        var unsigned = await RenderGrayAsync(Example, Dpi);
        var signed = await RenderGrayAsync(signedPdf, Dpi);
        Assert.Equal(unsigned.Length, signed.Length);
        var (width, height, offset) = PgmHeader(signed);
        var changedInside = 0;
        for (var y = 0; y < height; y++)
        {
            for (var x = 0; x < width; x++)
            {
                var i = offset + (y * width) + x;
                if (signed[i] == unsigned[i])
                {
                    continue;
                }

                var inside = x >= 358 && x <= 562 && y >= 842 - 112 && y <= 842 - 60;
                Assert.True(inside, $"pixel {x},{y} changed outside the signature box");
                changedInside++;
            }
        }

        Assert.True(changedInside > 1000, $"only {changedInside} pixels of the signature box were drawn");
        if (level == "B-LT")
        {
            var docs = Path.Combine(RepoPaths.Root, "docs", "pdf");
            Directory.CreateDirectory(docs);
            (await ProcessRunner.RunAsync("pdftoppm", ["-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", signedPdf, Path.Combine(docs, "signed-contract")]))
                .EnsureSuccess("pdftoppm -png");
        }
    }

    private async Task<byte[]> RenderGrayAsync(string pdf, int dpi)
    {
        var stem = Path.Combine(_dir, Path.GetFileNameWithoutExtension(pdf) + "-render");
        (await ProcessRunner.RunAsync("pdftoppm", ["-gray", "-r", dpi.ToString(CultureInfo.InvariantCulture), "-f", "1", "-l", "1", "-singlefile", pdf, stem]))
            .EnsureSuccess("pdftoppm");
        return await File.ReadAllBytesAsync(stem + ".pgm");
    }

    /// <summary>Binary PGM (P5): "P5 width height maxval" then one byte a pixel.</summary>
    private static (int Width, int Height, int Offset) PgmHeader(byte[] pgm)
    {
        var fields = new List<string>();
        var i = 0;
        while (fields.Count < 4)
        {
            while (char.IsWhiteSpace((char)pgm[i]))
            {
                i++;
            }

            var start = i;
            while (!char.IsWhiteSpace((char)pgm[i]))
            {
                i++;
            }

            fields.Add(Encoding.ASCII.GetString(pgm, start, i - start));
        }

        Assert.Equal("P5", fields[0]);
        return (int.Parse(fields[1], CultureInfo.InvariantCulture), int.Parse(fields[2], CultureInfo.InvariantCulture), i + 1);
    }

    private static int IndexOf(byte[] haystack, string needle)
    {
        var at = haystack.AsSpan().IndexOf(Encoding.Latin1.GetBytes(needle));
        Assert.True(at >= 0, needle);
        return at;
    }

    [GeneratedRegex(@"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\]")]
    private static partial Regex ByteRangePattern();

    [GeneratedRegex(@"(\d+) 0 obj\b")]
    private static partial Regex ObjectHeaderPattern();

    [GeneratedRegex(@"startxref\s+(\d+)")]
    private static partial Regex StartXrefPattern();

    [GeneratedRegex(@"/Size (\d+)")]
    private static partial Regex SizePattern();

    [GeneratedRegex(@"/Root (\d+ \d+ R)")]
    private static partial Regex RootPattern();
}
