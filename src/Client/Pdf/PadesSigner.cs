using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using PdfSharp.Pdf;
using PdfSharp.Pdf.Advanced;

namespace DTrust.Client.Pdf;

/// <summary>Where the signature shows: a rectangle on a page (PDF points from the lower left), or nowhere.</summary>
internal sealed record SignatureAppearance(int Page, double X, double Y, double Width, double Height, IReadOnlyList<string> Lines)
{
    public static SignatureAppearance Invisible { get; } = new(1, 0, 0, 0, 0, []);

    public bool Visible => Width > 0 && Height > 0;
}

/// <summary>
/// A signature field added to a PDF whose /Contents is still a run of zeros: the bytes around it are final, so
/// their hash is what the server signs. <see cref="Embed"/> writes the answer into the hole.
/// </summary>
internal sealed class PreparedSignature(byte[] file, long contentsStart, long contentsEnd, string fieldName)
{
    public byte[] File { get; } = file;

    public string FieldName { get; } = fieldName;

    /// <summary>The hash of both byte ranges (everything but the hex string of /Contents, brackets included).</summary>
    public byte[] Hash(HashAlgorithmName hash)
    {
        using var h = IncrementalHash.CreateHash(hash);
        h.AppendData(File, 0, (int)contentsStart);
        h.AppendData(File, (int)contentsEnd, File.Length - (int)contentsEnd);
        return h.GetHashAndReset();
    }

    /// <summary>The value of /Contents once <paramref name="contents"/> is embedded: the bytes and their zero padding.</summary>
    public byte[] ContentsValue(byte[] contents)
    {
        var value = new byte[(contentsEnd - contentsStart - 2) / 2];
        contents.CopyTo(value, 0);
        return value;
    }

    /// <summary>The signed file: the CMS (or time-stamp token) as hex in the reserved space, zero padded.</summary>
    public byte[] Embed(byte[] contents)
    {
        var room = (contentsEnd - contentsStart - 2) / 2;
        if (contents.Length > room)
        {
            throw new InvalidOperationException($"the signature ({contents.Length} bytes) is larger than the {room} bytes reserved for it");
        }

        var signed = (byte[])File.Clone();
        Encoding.ASCII.GetBytes(Convert.ToHexString(contents)).CopyTo(signed, contentsStart + 1);
        return signed;
    }
}

/// <summary>
/// PAdES (EN 319 142-1) by incremental updates: a signature field with an <c>ETSI.CAdES.detached</c> signature
/// (B-B/B-T), a DSS dictionary with the validation data (B-LT) and a document time-stamp <c>ETSI.RFC3161</c> over all
/// of it (B-LTA). Each step appends one revision; none rewrites what an earlier signature covers.
/// </summary>
internal static class PadesSigner
{
    /// <summary>Room for the CMS: signer certificate, chain and a time-stamp token with its TSA certificate take about 6 KiB.</summary>
    private const int ContentsRoom = 16384;

    /// <summary>"[0 a b c]" is written over this many spaces once the offsets are known.</summary>
    private const int ByteRangeRoom = 48;

    /// <summary>
    /// Adds an unsigned signature field. <paramref name="docTimeStamp"/> makes it a document time-stamp field
    /// (/Type /DocTimeStamp, SubFilter ETSI.RFC3161, no /M: the token carries the time).
    /// </summary>
    public static PreparedSignature Prepare(PdfRevision revision, SignatureAppearance appearance, DateTimeOffset claimedTime,
        string? reason, string? location, bool docTimeStamp = false)
    {
        var document = revision.Document;
        var pages = Pages(document);
        if (appearance.Page < 1 || appearance.Page > pages.Count)
        {
            throw new PdfInputException($"page {appearance.Page} does not exist (the document has {pages.Count})");
        }

        var page = pages[appearance.Page - 1];
        var update = new IncrementalUpdate(revision);
        var fieldName = FreeFieldName(document, docTimeStamp ? "DocTimeStamp" : "Signature");
        var (sig, field) = (update.Reserve(), update.Reserve());

        // The signature dictionary, with holes for /ByteRange and /Contents.
        update.Begin(sig);
        update.Raw(docTimeStamp
            ? "<< /Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161"
            : $"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M {PdfDate(claimedTime)}");
        if (!string.IsNullOrEmpty(reason))
        {
            update.Raw($" /Reason {TextString(reason)}");
        }

        if (!string.IsNullOrEmpty(location))
        {
            update.Raw($" /Location {TextString(location)}");
        }

        update.Raw(" /ByteRange ");
        var byteRangeAt = update.Position;
        update.Raw(new string(' ', ByteRangeRoom));
        update.Raw(" /Contents ");
        var contentsStart = update.Position;
        update.Raw("<" + new string('0', ContentsRoom * 2) + ">");
        var contentsEnd = update.Position;
        update.Raw(" >>");
        update.End();

        // The field and its widget in one dictionary, on the page, locked once signed (/F 132 = print + locked).
        var rect = string.Create(CultureInfo.InvariantCulture,
            $"[{appearance.X:0.##} {appearance.Y:0.##} {appearance.X + appearance.Width:0.##} {appearance.Y + appearance.Height:0.##}]");
        var widget = $"<< /Type /Annot /Subtype /Widget /FT /Sig /T {TextString(fieldName)} /V {IncrementalUpdate.Ref(sig)} /F 132 " +
            $"/P {IncrementalUpdate.Ref(page)} /Rect {rect}";
        if (appearance.Visible)
        {
            var (form, font) = (update.Reserve(), update.Reserve());
            widget += $" /AP << /N {IncrementalUpdate.Ref(form)} >>";
            update.Object(font, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
            update.Stream(form, AppearanceStream(appearance), string.Create(CultureInfo.InvariantCulture,
                $"/Type /XObject /Subtype /Form /BBox [0 0 {appearance.Width:0.##} {appearance.Height:0.##}] /Resources << /Font << /F1 {IncrementalUpdate.Ref(font)} >> >>"));
        }

        update.Object(field, widget + " >>");
        update.Changed(AddToArray(document, page, "/Annots", IncrementalUpdate.Ref(field)), page);

        // The catalog's AcroForm lists the field; SigFlags 3: signatures exist, change only by appending.
        var catalog = document.Internals.Catalog;
        switch (catalog.Elements["/AcroForm"])
        {
            case null:
                var acroForm = update.Reserve();
                update.Object(acroForm, $"<< /Fields [{IncrementalUpdate.Ref(field)}] /SigFlags 3 >>");
                catalog.Elements["/AcroForm"] = new PdfLiteral(IncrementalUpdate.Ref(acroForm));
                update.Changed(catalog, catalog);
                break;
            case var existing when Resolve(existing) is PdfDictionary form:
                form.Elements["/SigFlags"] = new PdfInteger(3);
                update.Changed(form, catalog);
                update.Changed(AddToArray(document, form, "/Fields", IncrementalUpdate.Ref(field)), form.IsIndirect ? form : catalog);
                break;
            default:
                throw new PdfInputException("the catalog's /AcroForm is not a dictionary");
        }

        var file = update.Finish();

        // Now that the offsets are final: [0, start of the hex string, its end, the rest of the file].
        var byteRange = string.Create(CultureInfo.InvariantCulture, $"[0 {contentsStart} {contentsEnd} {file.Length - contentsEnd}]");
        Encoding.ASCII.GetBytes(byteRange).CopyTo(file, byteRangeAt);
        return new PreparedSignature(file, contentsStart, contentsEnd, fieldName);
    }

    /// <summary>
    /// B-LT: a DSS (document security store) with the certificates, OCSP answers and CRLs, and a VRI entry for
    /// the signature they validate, keyed by the SHA-1 of its /Contents. An existing DSS keeps what it had.
    /// </summary>
    public static byte[] AddValidationData(PdfRevision revision, byte[] signatureContents,
        IReadOnlyList<byte[]> certificates, IReadOnlyList<byte[]> ocspResponses, IReadOnlyList<byte[]> crls)
    {
        var document = revision.Document;
        var update = new IncrementalUpdate(revision);
        List<string> Streams(IEnumerable<byte[]> items) => items.Select(data =>
        {
            var n = update.Reserve();
            update.Stream(n, data);
            return IncrementalUpdate.Ref(n);
        }).ToList();

        var (certs, ocsps, crlRefs) = (Streams(certificates), Streams(ocspResponses), Streams(crls));
#pragma warning disable CA5350 // PAdES names the VRI entry by the SHA-1 of the signature: an identifier, not a security check.
        var vriKey = "/" + Convert.ToHexString(SHA1.HashData(signatureContents));
#pragma warning restore CA5350
        var vri = $"<< /Cert [{string.Join(' ', certs)}] /OCSP [{string.Join(' ', ocsps)}] /CRL [{string.Join(' ', crlRefs)}] >>";
        var catalog = document.Internals.Catalog;
        if (Resolve(catalog.Elements["/DSS"]) is PdfDictionary dss)
        {
            foreach (var (key, refs) in new[] { ("/Certs", certs), ("/OCSPs", ocsps), ("/CRLs", crlRefs) })
            {
                foreach (var r in refs)
                {
                    update.Changed(AddToArray(document, dss, key, r), dss.IsIndirect ? dss : catalog);
                }
            }

            if (Resolve(dss.Elements["/VRI"]) is PdfDictionary vris)
            {
                vris.Elements[vriKey] = new PdfLiteral(vri);
                update.Changed(vris, dss.IsIndirect ? dss : catalog);
            }
            else
            {
                dss.Elements["/VRI"] = new PdfLiteral($"<< {vriKey} {vri} >>");
            }

            update.Changed(dss, catalog);
        }
        else
        {
            var n = update.Reserve();
            update.Object(n, $"<< /Type /DSS /Certs [{string.Join(' ', certs)}] /OCSPs [{string.Join(' ', ocsps)}] " +
                $"/CRLs [{string.Join(' ', crlRefs)}] /VRI << {vriKey} {vri} >> >>");
            catalog.Elements["/DSS"] = new PdfLiteral(IncrementalUpdate.Ref(n));
            update.Changed(catalog, catalog);
        }

        return update.Finish();
    }

    private static PdfItem? Resolve(PdfItem? item) => item is PdfReference reference ? reference.Value : item;

    /// <summary>
    /// The page dictionaries in order, from the raw page tree. Not PDFsharp's Pages: that flattens the tree, copying
    /// inherited attributes into each page and re-parenting it, and a page written again would carry all of it.
    /// </summary>
    private static List<PdfDictionary> Pages(PdfDocument document)
    {
        var pages = new List<PdfDictionary>();
        var seen = new HashSet<PdfDictionary>(ReferenceEqualityComparer.Instance);
        void Walk(PdfItem? node, int depth)
        {
            if (Resolve(node) is not PdfDictionary d || depth > 64 || !seen.Add(d))
            {
                return;
            }

            if (Resolve(d.Elements["/Kids"]) is PdfArray kids)
            {
                foreach (var kid in kids.Elements)
                {
                    Walk(kid, depth + 1);
                }
            }
            else if (d.IsIndirect)
            {
                pages.Add(d);
            }
        }

        Walk(document.Internals.Catalog.Elements["/Pages"], 0);
        return pages;
    }

    /// <summary>Adds a reference to the array at <paramref name="owner"/>[key]; answers the object that changed.</summary>
    private static PdfObject AddToArray(PdfDocument document, PdfDictionary owner, string key, string reference)
    {
        switch (owner.Elements[key])
        {
            case null:
                owner.Elements[key] = new PdfArray(document, new PdfLiteral(reference));
                return owner;
            case PdfReference { Value: PdfArray indirect }:
                indirect.Elements.Add(new PdfLiteral(reference));
                return indirect;
            case PdfArray array:
                array.Elements.Add(new PdfLiteral(reference));
                return array.IsIndirect ? array : owner;
            default:
                throw new PdfInputException($"{key} is not an array");
        }
    }

    private static string FreeFieldName(PdfDocument document, string stem)
    {
        var taken = new HashSet<string>(StringComparer.Ordinal);
        if (Resolve(document.Internals.Catalog.Elements["/AcroForm"]) is PdfDictionary form && Resolve(form.Elements["/Fields"]) is PdfArray fields)
        {
            foreach (var f in fields.Elements)
            {
                if (Resolve(f) is PdfDictionary d && d.Elements["/T"] is PdfString t)
                {
                    taken.Add(t.Value);
                }
            }
        }

        var n = 1;
        while (taken.Contains(stem + n))
        {
            n++;
        }

        return stem + n;
    }

    /// <summary>The visible signature: a framed box with one line per entry in Helvetica, sized to fit.</summary>
    private static byte[] AppearanceStream(SignatureAppearance a)
    {
        var longest = Math.Max(1, a.Lines.Max(l => l.Length));
        // Helvetica's average advance is about half the font size; leave 4 pt of margin on each side.
        var size = Math.Clamp(Math.Min((a.Width - 8) / (longest * 0.5), (a.Height - 6) / (a.Lines.Count * 1.25)), 4, 11);
        var content = new StringBuilder();
        content.Append(CultureInfo.InvariantCulture,
            $"q 0.94 0.96 1 rg 0 0 {a.Width:0.##} {a.Height:0.##} re f 0.15 0.3 0.6 RG 1 w 0.5 0.5 {a.Width - 1:0.##} {a.Height - 1:0.##} re S Q\n");
        content.Append(CultureInfo.InvariantCulture, $"BT 0.1 0.1 0.2 rg /F1 {size:0.##} Tf {size * 1.25:0.##} TL 4 {a.Height - 3 - size:0.##} Td\n");
        foreach (var line in a.Lines)
        {
            content.Append(ShowString(line)).Append(" Tj T*\n");
        }

        content.Append("ET\n");
        return Encoding.Latin1.GetBytes(content.ToString());
    }

    /// <summary>
    /// A text string: printable ASCII as a literal with (, ) and \ escaped (the same in PDFDocEncoding), anything
    /// else as UTF-16BE with its byte order mark, which every reader decodes.
    /// </summary>
    private static string TextString(string text)
    {
        if (text.Any(c => c is < ' ' or > '~'))
        {
            return "<FEFF" + Convert.ToHexString(Encoding.BigEndianUnicode.GetBytes(text)) + ">";
        }

        return ShowString(text);
    }

    /// <summary>A string shown in the appearance with Helvetica in WinAnsiEncoding: Latin-1 as is, the rest as '?'.</summary>
    private static string ShowString(string text)
    {
        var escaped = new StringBuilder("(");
        foreach (var c in text)
        {
            escaped.Append(c switch
            {
                '(' or ')' or '\\' => "\\" + c,
                < ' ' => " ",
                > '\u00ff' or (>= '\u0080' and < '\u00a0') => "?",
                _ => c.ToString(),
            });
        }

        return escaped.Append(')').ToString();
    }

    private static string PdfDate(DateTimeOffset time) =>
        "(D:" + time.UtcDateTime.ToString("yyyyMMddHHmmss", CultureInfo.InvariantCulture) + "Z)";
}
