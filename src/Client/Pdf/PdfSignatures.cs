using System.Formats.Asn1;
using System.Text;
using System.Text.RegularExpressions;
using PdfSharp.Pdf;
using PdfSharp.Pdf.Advanced;

namespace DTrust.Client.Pdf;

/// <summary>One signature field of a PDF, read from the file's bytes as its /ByteRange names them.</summary>
internal sealed record PdfSignatureField(string Name, string SubFilter, long[] ByteRange, byte[] Contents, string? ClaimedTime)
{
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
internal static partial class PdfSignatures
{
    public static List<PdfSignatureField> Fields(PdfRevision revision)
    {
        var found = new List<PdfSignatureField>();
        if (Resolve(revision.Document.Internals.Catalog.Elements["/AcroForm"]) is not PdfDictionary form
            || Resolve(form.Elements["/Fields"]) is not PdfArray fields)
        {
            return found;
        }

        var pending = new Stack<PdfItem>(fields.Elements.Reverse());
        while (pending.Count > 0)
        {
            if (Resolve(pending.Pop()) is not PdfDictionary field)
            {
                continue;
            }

            if (Resolve(field.Elements["/Kids"]) is PdfArray kids)
            {
                foreach (var kid in kids.Elements.Reverse())
                {
                    pending.Push(kid);
                }
            }

            if (Resolve(field.Elements["/V"]) is PdfDictionary value && Resolve(value.Elements["/ByteRange"]) is PdfArray range)
            {
                found.Add(Read(revision.Bytes, field, value, range));
            }
        }

        return found;
    }

    private static PdfSignatureField Read(byte[] file, PdfDictionary field, PdfDictionary value, PdfArray range)
    {
        var name = field.Elements["/T"] is PdfString t ? t.Value : "(unnamed)";
        var numbers = range.Elements.Select(e => e is PdfInteger i ? i.Value : e is PdfLongInteger l ? l.Value : -1L).ToArray();
        if (numbers.Length != 4 || numbers[0] != 0 || numbers.Any(n => n < 0) || numbers[1] >= numbers[2]
            || numbers[2] + numbers[3] > file.Length || file[numbers[1]] != '<' || file[numbers[2] - 1] != '>')
        {
            throw new PdfInputException($"signature field {name}: its /ByteRange does not frame its /Contents");
        }

        // The hole holds the hex string; the DER inside is followed by zero padding.
        var hex = Encoding.ASCII.GetString(file, (int)numbers[1] + 1, (int)(numbers[2] - numbers[1] - 2));
        var padded = Convert.FromHexString(hex);
        int length;
        try
        {
            AsnDecoder.ReadEncodedValue(padded, AsnEncodingRules.BER, out _, out _, out length);
        }
        catch (AsnContentException)
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

        List<byte[]> Streams(string key) => Resolve(dss.Elements[key]) is PdfArray array
            ? array.Elements.Select(Resolve).OfType<PdfDictionary>().Select(d => d.Stream.UnfilteredValue).ToList()
            : [];
        return new DocumentSecurityStore(Streams("/Certs"), Streams("/OCSPs"), Streams("/CRLs"));
    }

    /// <summary>
    /// What the revisions after <paramref name="field"/> changed: null when nothing but signatures, time-stamps and
    /// validation data were added (ISO 32000-2 §12.8.2.2 calls these permitted), else the first change that is not.
    /// Objects redefined later are compared with their versions in the signed revision: a page may gain signature
    /// widgets, the catalog a DSS and an AcroForm, the AcroForm fields; anything else is a change of the document.
    /// </summary>
    public static string? ChangeAfter(PdfRevision whole, PdfSignatureField field)
    {
        if (field.CoveredEnd == whole.Bytes.Length)
        {
            return null;
        }

        var signed = PdfRevision.Open(whole.Bytes[..(int)field.CoveredEnd], "the signed revision");
        var later = Encoding.Latin1.GetString(whole.Bytes, (int)field.CoveredEnd, whole.Bytes.Length - (int)field.CoveredEnd);
        if (ObjectStreamPattern().IsMatch(later))
        {
            return "a later revision stores objects compressed (object streams); its changes cannot be checked here";
        }

        foreach (Match header in ObjectPattern().Matches(later))
        {
            var number = int.Parse(header.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (number >= signed.Size)
            {
                continue;
            }

            var before = signed.Document.Internals.GetObject(new PdfObjectID(number));
            var after = whole.Document.Internals.GetObject(new PdfObjectID(number));
            var problem = (before, after) switch
            {
                (null, _) => null,
                (_, null) => $"object {number} was removed",
                (PdfDictionary b, PdfDictionary a) when Type(b) == "/Page" => SameExcept(signed, b, whole, a, "/Annots") ?? WidgetsOnly(b, a, "/Annots"),
                (PdfDictionary b, PdfDictionary a) when Type(b) == "/Catalog" => SameExcept(signed, b, whole, a, "/AcroForm", "/DSS"),
                (PdfDictionary b, PdfDictionary a) when b.Elements["/Fields"] is not null => SameExcept(signed, b, whole, a, "/Fields", "/SigFlags"),
                (PdfArray b, PdfArray a) => Appended(b, a),
                (PdfDictionary b, PdfDictionary a) when Type(b) == "/DSS" => null,
                _ => $"object {number} ({Describe(before)}) was changed",
            };
            if (problem is not null)
            {
                return problem;
            }
        }

        return null;
    }

    private static string? SameExcept(PdfRevision before, PdfDictionary b, PdfRevision after, PdfDictionary a, params string[] allowed)
    {
        foreach (var key in b.Elements.Keys.Union(a.Elements.Keys).Except(allowed))
        {
            if (Serialize(before, b.Elements[key]) != Serialize(after, a.Elements[key]))
            {
                return $"{Describe(b)} {key} was changed";
            }
        }

        return null;
    }

    /// <summary>An array may only grow at its end (Fields, Annots).</summary>
    private static string? Appended(PdfArray b, PdfArray a) =>
        a.Elements.Count >= b.Elements.Count && b.Elements.Select(Key).SequenceEqual(a.Elements.Take(b.Elements.Count).Select(Key))
            ? null
            : "an array was rewritten, not appended to";

    /// <summary>What a page gained in /Annots must be signature widgets: a new stamp or note would change what it shows.</summary>
    private static string? WidgetsOnly(PdfDictionary b, PdfDictionary a, string key)
    {
        var old = Resolve(b.Elements[key]) is PdfArray o ? o.Elements.Select(Key).ToHashSet() : [];
        var added = Resolve(a.Elements[key]) is PdfArray n ? n.Elements.Where(e => !old.Contains(Key(e))).ToList() : [];
        return added.All(e => Resolve(e) is PdfDictionary d && d.Elements["/FT"] is PdfName { Value: "/Sig" })
            ? null
            : "an annotation that is not a signature was added to a page";
    }

    private static string Key(PdfItem item) => item is PdfReference r ? $"{r.ObjectNumber} {r.GenerationNumber} R" : item.ToString() ?? "";

    private static string Serialize(PdfRevision revision, PdfItem? item)
    {
        if (item is null)
        {
            return "";
        }

        if (item is PdfReference r)
        {
            return $"{r.ObjectNumber} {r.GenerationNumber} R";
        }

        using var stream = new MemoryStream();
        revision.Document.Internals.WriteObject(stream, item);
        return Encoding.Latin1.GetString(stream.ToArray());
    }

    private static string? Type(PdfDictionary d) => d.Elements["/Type"] is PdfName n ? n.Value : null;

    private static string Describe(PdfObject obj) => obj is PdfDictionary d && Type(d) is { } t ? t[1..].ToLowerInvariant() : obj.GetType().Name;

    private static PdfItem? Resolve(PdfItem? item) => item is PdfReference reference ? reference.Value : item;

    [GeneratedRegex(@"(?<![\d])(\d+)\s+\d+\s+obj\b")]
    private static partial Regex ObjectPattern();

    [GeneratedRegex(@"/Type\s*/ObjStm\b")]
    private static partial Regex ObjectStreamPattern();
}
