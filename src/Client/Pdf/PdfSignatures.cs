using System.Formats.Asn1;
using System.Text;
using PdfSharp.Pdf;
using PdfSharp.Pdf.Advanced;

namespace DTrust.Client.Pdf;

/// <summary>One signature field of a PDF, read from the file's bytes as its /ByteRange names them.</summary>
internal sealed record PdfSignatureField(string Name, string SubFilter, long[] ByteRange, byte[] Contents, string? ClaimedTime)
{
    /// <summary>Why this field cannot be checked at all (its ByteRange or /Contents is malformed), or null.</summary>
    public string? Problem { get; init; }

    public bool IsDocTimeStamp => SubFilter == "/ETSI.RFC3161";

    /// <summary>Where the signed bytes end: everything after it came in later revisions.</summary>
    public long CoveredEnd => ByteRange[2] + ByteRange[3];

    /// <summary>The signed bytes: both ranges, without the /Contents hole.</summary>
    public byte[] SignedBytes(byte[] file)
    {
        var data = new byte[ByteRange[1] + ByteRange[3]];
        Array.Copy(file, ByteRange[0], data, 0, ByteRange[1]);
        Array.Copy(file, ByteRange[2], data, ByteRange[1], ByteRange[3]);
        return data;
    }
}

/// <summary>The validation data of a PDF's DSS, in the form a verifier uses it.</summary>
internal sealed record DocumentSecurityStore(List<byte[]> Certificates, List<byte[]> OcspResponses, List<byte[]> Crls);

/// <summary>
/// Reads what <c>dtrust verify</c> needs from a PDF: its signature fields (ETSI.CAdES.detached, adbe.pkcs7.detached,
/// ETSI.RFC3161), the DSS, and what each later revision changed compared with the one a signature covers.
/// </summary>
internal static class PdfSignatures
{
    public static List<PdfSignatureField> Fields(PdfRevision revision)
    {
        var found = new List<PdfSignatureField>();
        if (Resolve(revision.Document.Internals.Catalog.Elements["/AcroForm"]) is not PdfDictionary form
            || Resolve(form.Elements["/Fields"]) is not PdfArray fields)
        {
            return found;
        }

        var pending = new Stack<(PdfItem Item, int Depth)>(fields.Elements.Reverse().Select(e => (e, 0)));
        while (pending.Count > 0)
        {
            var (item, depth) = pending.Pop();
            if (Resolve(item) is not PdfDictionary field || depth > 32)
            {
                continue;
            }

            if (Resolve(field.Elements["/Kids"]) is PdfArray kids)
            {
                foreach (var kid in kids.Elements.Reverse())
                {
                    pending.Push((kid, depth + 1));
                }
            }

            if (Resolve(field.Elements["/V"]) is PdfDictionary value && Resolve(value.Elements["/ByteRange"]) is PdfArray range)
            {
                var name = field.Elements["/T"] is PdfString t ? t.Value : "(unnamed)";
                try
                {
                    found.Add(Read(revision.Bytes, name, value, range));
                }
                catch (PdfInputException e)
                {
                    found.Add(new PdfSignatureField(name, "(unreadable)", [0, 0, 0, 0], [], null) { Problem = e.Message });
                }
            }
        }

        // Two fields over one ByteRange would let a copied dictionary borrow a real signer's signature.
        var shared = found.Where(f => f.Problem is null).GroupBy(f => string.Join(' ', f.ByteRange)).Where(g => g.Count() > 1).SelectMany(g => g).ToHashSet();
        return [.. found.Select(f => shared.Contains(f) ? f with { Problem = "another signature field has the same /ByteRange" } : f)];
    }

    private static PdfSignatureField Read(byte[] file, string name, PdfDictionary value, PdfArray range)
    {
        var numbers = range.Elements.Select(e => e is PdfInteger i ? i.Value : e is PdfLongInteger l ? l.Value : -1L).ToArray();
        if (numbers.Length != 4 || numbers[0] != 0 || numbers.Any(n => n < 0) || numbers[1] >= numbers[2]
            || numbers[2] + numbers[3] > file.Length || file[numbers[1]] != '<' || file[numbers[2] - 1] != '>')
        {
            throw new PdfInputException($"signature field {name}: its /ByteRange does not frame its /Contents");
        }

        // The hole must be this dictionary's own /Contents: the dictionary is an uncompressed object around it.
        var at = value.Reference?.Position ?? -1;
        var end = at < 0 ? -1 : file.AsSpan((int)at).IndexOf("endobj"u8);
        if (value.Reference is null || !PdfRevision.PointsAtObject(file, at, value.Reference.ObjectNumber) || end < 0
            || numbers[1] <= at || numbers[2] > at + end)
        {
            throw new PdfInputException($"signature field {name}: the /ByteRange hole is not inside its own signature dictionary");
        }

        // The hole holds the hex string; the DER inside is followed by zero padding.
        var hex = Encoding.ASCII.GetString(file, (int)numbers[1] + 1, (int)(numbers[2] - numbers[1] - 2));
        byte[] padded;
        int length;
        try
        {
            padded = Convert.FromHexString(hex);
            AsnDecoder.ReadEncodedValue(padded, AsnEncodingRules.BER, out _, out _, out length);
        }
        catch (Exception e) when (e is FormatException or AsnContentException)
        {
            throw new PdfInputException($"signature field {name}: its /Contents is not a DER value");
        }

        var subFilter = value.Elements["/SubFilter"] is PdfName n ? n.Value : "(none)";
        var claimed = value.Elements["/M"] is PdfString m ? m.Value : null;
        return new PdfSignatureField(name, subFilter, numbers, padded[..length], claimed);
    }

    public static DocumentSecurityStore? Dss(PdfRevision revision)
    {
        if (Resolve(revision.Document.Internals.Catalog.Elements["/DSS"]) is not PdfDictionary dss)
        {
            return null;
        }

        // Entries that are not streams carry no data: skipped, as a validator would.
        List<byte[]> Streams(string key) => Resolve(dss.Elements[key]) is PdfArray array
            ? array.Elements.Select(Resolve).OfType<PdfDictionary>().Where(d => d.Stream is not null).Select(d => d.Stream.UnfilteredValue).ToList()
            : [];
        return new DocumentSecurityStore(Streams("/Certs"), Streams("/OCSPs"), Streams("/CRLs"));
    }

    /// <summary>
    /// What the revisions after <paramref name="field"/> changed: null when they only added signatures, time-stamps
    /// and validation data (the changes ISO 32000-2 §12.8.2.2 permits after a signature), else the first other change.
    /// Every object of the signed revision is compared with what the whole file now resolves it to (so neither an
    /// object stream nor a cross-reference entry pointing elsewhere hides a change). Only these may differ: the
    /// catalog by its /AcroForm and /DSS, the AcroForm by its /Fields (and /SigFlags), a page by its /Annots, and
    /// those arrays only by appending signature widgets of signatures in this file; the DSS as it likes.
    /// </summary>
    public static string? ChangeAfter(PdfRevision whole, PdfSignatureField field, IReadOnlyList<PdfSignatureField> signatures)
    {
        if (field.CoveredEnd == whole.Bytes.Length)
        {
            return null;
        }

        var signed = PdfRevision.Open(whole.Bytes[..(int)field.CoveredEnd], "the signed revision");
        if (signed.Root != whole.Root || signed.Info != whole.Info)
        {
            return signed.Root != whole.Root ? "the document catalog was replaced (/Root)" : "the document information was replaced (/Info)";
        }

        var comparison = new Comparison(signed, whole, signatures.Where(s => s.Problem is null).ToList());
        foreach (var before in signed.Document.Internals.GetAllObjects())
        {
            var problem = comparison.Check(before);
            if (problem is not null)
            {
                return problem;
            }
        }

        return null;
    }

    /// <summary>One signed revision against the whole file, object by object.</summary>
    private sealed class Comparison(PdfRevision signed, PdfRevision whole, IReadOnlyList<PdfSignatureField> signatures)
    {
        private static readonly string[] NewAcroFormKeys = ["/Fields", "/SigFlags", "/DA", "/DR"];

        private readonly HashSet<string> _ranges = signatures.Select(s => string.Join(' ', s.ByteRange)).ToHashSet(StringComparer.Ordinal);

        public string? Check(PdfObject before)
        {
            // Cross-reference and object streams are the file's structure: the objects they hold are compared one by one.
            if (before is PdfDictionary structure && Type(structure) is "/XRef" or "/ObjStm")
            {
                return null;
            }

            var id = Id(before);
            var after = whole.Document.Internals.GetObject(id);
            if (after is null)
            {
                return $"object {id.ObjectNumber} {id.GenerationNumber} was removed";
            }

            if (Same(before, after))
            {
                return null;
            }

            var catalog = whole.Document.Internals.Catalog;
            var form = Resolve(catalog.Elements["/AcroForm"]) as PdfDictionary;
            if (Id(after) == Id(catalog))
            {
                return SameExcept((PdfDictionary)before, (PdfDictionary)after, "/AcroForm", "/DSS") ?? AcroForm();
            }

            if (Resolve(catalog.Elements["/DSS"]) is PdfDictionary { IsIndirect: true } dss && Id(dss) == id)
            {
                return null;
            }

            if (form is { IsIndirect: true } && Id(form) == id)
            {
                return AcroForm();
            }

            if (form is not null && form.Elements["/Fields"] is PdfReference fields && fields.ObjectID == id)
            {
                return Appended(before as PdfArray, after as PdfArray, "/Fields");
            }

            if (before is PdfDictionary { } page && Type(page) == "/Page" && after is PdfDictionary now)
            {
                return SameExcept(page, now, "/Annots")
                    ?? (page.Elements["/Annots"] is PdfReference ? null : Appended(Resolve(page.Elements["/Annots"]) as PdfArray, Resolve(now.Elements["/Annots"]) as PdfArray, "/Annots"));
            }

            if (before is PdfArray && IsAnnotsArrayOfAPage(id))
            {
                return Appended(before as PdfArray, after as PdfArray, "/Annots");
            }

            return $"object {id.ObjectNumber} ({Describe(before)}) was changed";
        }

        /// <summary>The AcroForm may gain fields and SigFlags; anything else (XFA, NeedAppearances, …) is a change.</summary>
        private string? AcroForm()
        {
            var before = Resolve(signed.Document.Internals.Catalog.Elements["/AcroForm"]) as PdfDictionary;
            var after = Resolve(whole.Document.Internals.Catalog.Elements["/AcroForm"]) as PdfDictionary;
            if (after is null)
            {
                return before is null ? null : "the AcroForm was removed";
            }

            if (before is null)
            {
                var extra = after.Elements.Keys.Except(NewAcroFormKeys).FirstOrDefault();
                return extra is not null ? $"a new AcroForm carries {extra}" : Appended(null, Resolve(after.Elements["/Fields"]) as PdfArray, "/Fields");
            }

            return SameExcept(before, after, "/Fields", "/SigFlags")
                ?? Appended(Resolve(before.Elements["/Fields"]) as PdfArray, Resolve(after.Elements["/Fields"]) as PdfArray, "/Fields");
        }

        /// <summary>An array that may only grow at its end, and only by signature widgets of signatures in this file.</summary>
        private string? Appended(PdfArray? before, PdfArray? after, string key)
        {
            var old = before?.Elements.Select(Key).ToList() ?? [];
            var now = after?.Elements.ToList() ?? [];
            if (now.Count < old.Count || !old.SequenceEqual(now.Take(old.Count).Select(Key)))
            {
                return $"{key} was rewritten, not appended to";
            }

            foreach (var added in now.Skip(old.Count))
            {
                if (Resolve(added) is not PdfDictionary widget || widget.Elements["/FT"] is not PdfName { Value: "/Sig" }
                    || widget.Elements["/Subtype"] is not PdfName { Value: "/Widget" }
                    || Resolve(widget.Elements["/V"]) is not PdfDictionary value
                    || Resolve(value.Elements["/ByteRange"]) is not PdfArray range
                    || !_ranges.Contains(string.Join(' ', range.Elements.Select(e => e.ToString()))))
                {
                    return $"{key} gained an entry that is not the widget of a signature in this file";
                }
            }

            return null;
        }

        private bool IsAnnotsArrayOfAPage(PdfObjectID id) =>
            whole.Document.Internals.GetAllObjects().OfType<PdfDictionary>()
                .Any(d => Type(d) == "/Page" && d.Elements["/Annots"] is PdfReference r && r.ObjectID == id);

        private string? SameExcept(PdfDictionary before, PdfDictionary after, params string[] allowed)
        {
            foreach (var key in before.Elements.Keys.Union(after.Elements.Keys).Except(allowed))
            {
                if (Serialize(signed, before.Elements[key]) != Serialize(whole, after.Elements[key]))
                {
                    return $"{Describe(before)} {key} was changed";
                }
            }

            return null;
        }

        /// <summary>The same object: the same PDF syntax, and for a stream the same bytes (which WriteObject leaves out).</summary>
        private bool Same(PdfObject before, PdfObject after) =>
            Serialize(signed, before) == Serialize(whole, after)
            && (before is not PdfDictionary { Stream: { } b } || (after is PdfDictionary { Stream: { } a } && b.Value.AsSpan().SequenceEqual(a.Value)));
    }

    private static PdfObjectID Id(PdfObject obj) => PdfInternals.GetObjectID(obj);

    private static string Key(PdfItem item) => item is PdfReference r ? $"{r.ObjectNumber} {r.GenerationNumber} R" : item.ToString() ?? "";

    private static string Serialize(PdfRevision revision, PdfItem? item)
    {
        switch (item)
        {
            case null:
                return "";
            case PdfReference r:
                return $"{r.ObjectNumber} {r.GenerationNumber} R";
            default:
                using (var stream = new MemoryStream())
                {
                    revision.Document.Internals.WriteObject(stream, item);
                    return Encoding.Latin1.GetString(stream.ToArray());
                }
        }
    }

    private static string? Type(PdfDictionary d) => d.Elements["/Type"] is PdfName n ? n.Value : null;

    private static string Describe(PdfObject obj) => obj is PdfDictionary d && Type(d) is { } t ? t[1..].ToLowerInvariant() : obj.GetType().Name;

    private static PdfItem? Resolve(PdfItem? item) => item is PdfReference reference ? reference.Value : item;
}
