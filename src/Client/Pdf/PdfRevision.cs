using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using PdfSharp.Pdf;
using PdfSharp.Pdf.IO;

namespace DTrust.Client.Pdf;

/// <summary>A file we will not sign or cannot read as a PDF; the message is the one line the user sees.</summary>
internal sealed class PdfInputException(string message) : InvalidOperationException(message);

/// <summary>
/// One revision of a PDF as it lies on disk: its bytes, where its last cross-reference section starts and what that
/// section's trailer says, and PDFsharp's object model to read it. Signing only ever appends to these bytes
/// (<see cref="IncrementalUpdate"/>), so every earlier signature keeps covering exactly what it covered.
/// </summary>
internal sealed partial class PdfRevision
{
    private PdfRevision(byte[] bytes, PdfDocument document, Trailer trailer)
    {
        Bytes = bytes;
        Document = document;
        StartXref = trailer.StartXref;
        XrefIsStream = trailer.IsStream;
        Size = trailer.Size;
        Root = trailer.Root;
        Info = trailer.Info;
        Id = trailer.Id;
    }

    public byte[] Bytes { get; }

    /// <summary>PDFsharp's reading of the whole file (all revisions merged), opened for import: never saved.</summary>
    public PdfDocument Document { get; }

    public long StartXref { get; }

    /// <summary>The last section is a cross-reference stream (PDF 1.5): an update must add one too.</summary>
    public bool XrefIsStream { get; }

    /// <summary>The trailer's /Size: the first object number an update may use.</summary>
    public int Size { get; }

    public string Root { get; }

    public string? Info { get; }

    public string? Id { get; }

    /// <summary>Reads <paramref name="bytes"/>; refuses what is not a PDF, is encrypted or has a broken cross-reference.</summary>
    public static PdfRevision Open(byte[] bytes, string name)
    {
        var head = Encoding.Latin1.GetString(bytes, 0, Math.Min(bytes.Length, 1024));
        if (!head.Contains("%PDF-", StringComparison.Ordinal))
        {
            throw new PdfInputException($"{name}: not a PDF (no %PDF- header)");
        }

        var trailer = ReadTrailer(bytes, name);
        if (trailer.Encrypted)
        {
            throw new PdfInputException($"{name}: the PDF is encrypted; signing it would need its password (decrypt it first, e.g. qpdf --decrypt)");
        }

        if (!trailer.IsStream)
        {
            CheckXrefTable(bytes, trailer.StartXref, name);
        }

        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            return new PdfRevision(bytes, PdfReader.Open(stream, PdfDocumentOpenMode.Import), trailer);
        }
        catch (Exception e) when (e is not PdfInputException)
        {
            throw new PdfInputException($"{name}: the PDF cannot be read ({e.Message.ReplaceLineEndings(" ")})");
        }
    }

    private sealed record Trailer(long StartXref, bool IsStream, int Size, string Root, string? Info, string? Id, bool Encrypted);

    private static Trailer ReadTrailer(byte[] bytes, string name)
    {
        var tailStart = Math.Max(0, bytes.Length - 2048);
        var tail = Encoding.Latin1.GetString(bytes, tailStart, bytes.Length - tailStart);
        var match = StartXrefPattern().Matches(tail).LastOrDefault()
            ?? throw new PdfInputException($"{name}: damaged PDF (no startxref at its end)");
        var offset = long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        if (offset <= 0 || offset >= bytes.Length)
        {
            throw new PdfInputException($"{name}: damaged cross-reference (startxref {offset} lies outside the file)");
        }

        // The dictionary that follows a classic table's "trailer", or the cross-reference stream's own dictionary.
        var section = Encoding.Latin1.GetString(bytes, (int)offset, (int)Math.Min(bytes.Length - offset, 1 << 20));
        string dictionary;
        bool isStream;
        if (section.StartsWith("xref", StringComparison.Ordinal))
        {
            var at = section.IndexOf("trailer", StringComparison.Ordinal);
            var end = at < 0 ? -1 : section.IndexOf("startxref", at, StringComparison.Ordinal);
            if (end < 0)
            {
                throw new PdfInputException($"{name}: damaged cross-reference (no trailer after the table at byte {offset})");
            }

            (dictionary, isStream) = (section[at..end], false);
        }
        else if (XrefStreamPattern().Match(section) is { Success: true } stream)
        {
            (dictionary, isStream) = (stream.Groups[1].Value, true);
        }
        else
        {
            throw new PdfInputException($"{name}: damaged cross-reference (startxref points at byte {offset}, where there is none)");
        }

        var size = SizePattern().Match(dictionary);
        var root = RootPattern().Match(dictionary);
        if (!size.Success || !root.Success)
        {
            throw new PdfInputException($"{name}: damaged trailer (no /Size or /Root)");
        }

        var info = InfoPattern().Match(dictionary);
        var id = IdPattern().Match(dictionary);
        return new Trailer(offset, isStream, int.Parse(size.Groups[1].Value, CultureInfo.InvariantCulture), Normalize(root.Groups[1].Value),
            info.Success ? Normalize(info.Groups[1].Value) : null, id.Success ? id.Value[3..].Trim() : null,
            EncryptPattern().IsMatch(dictionary));
    }

    /// <summary>
    /// Every in-use entry of the last table must point at its own object: a table that points elsewhere is damage
    /// that a reader would "repair" by guessing, and we do not sign a guess.
    /// </summary>
    private static void CheckXrefTable(byte[] bytes, long offset, string name)
    {
        var text = Encoding.Latin1.GetString(bytes, (int)offset, (int)Math.Min(bytes.Length - offset, 1 << 22));
        var body = text[4..text.IndexOf("trailer", StringComparison.Ordinal)];
        var lines = body.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var number = 0;
        foreach (var line in lines)
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2)
            {
                number = int.Parse(parts[0], CultureInfo.InvariantCulture);
                continue;
            }

            if (parts.Length != 3 || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var at))
            {
                throw new PdfInputException($"{name}: damaged cross-reference table (entry '{line}')");
            }

            if (parts[2] == "n" && !PointsAtObject(bytes, at, number))
            {
                throw new PdfInputException($"{name}: damaged cross-reference table (object {number} is not at byte {at})");
            }

            number++;
        }
    }

    /// <summary>Whether <paramref name="at"/> is the start of "<paramref name="number"/> G obj".</summary>
    internal static bool PointsAtObject(byte[] bytes, long at, int number)
    {
        if (at < 0 || at >= bytes.Length)
        {
            return false;
        }

        var head = Encoding.Latin1.GetString(bytes, (int)at, (int)Math.Min(32, bytes.Length - at));
        var match = ObjectHeaderPattern().Match(head);
        return match.Success && match.Groups[1].Value == number.ToString(CultureInfo.InvariantCulture);
    }

    private static string Normalize(string reference) => WhitespacePattern().Replace(reference.Trim(), " ");

    [GeneratedRegex(@"startxref\s+(\d+)\s+%%EOF")]
    private static partial Regex StartXrefPattern();

    [GeneratedRegex(@"^\d+\s+\d+\s+obj\s*(<<.*?/Type\s*/XRef.*?)stream", RegexOptions.Singleline)]
    private static partial Regex XrefStreamPattern();

    [GeneratedRegex(@"/Size\s+(\d+)")]
    private static partial Regex SizePattern();

    [GeneratedRegex(@"/Root\s+(\d+\s+\d+\s+R)")]
    private static partial Regex RootPattern();

    [GeneratedRegex(@"/Info\s+(\d+\s+\d+\s+R)")]
    private static partial Regex InfoPattern();

    [GeneratedRegex(@"/ID\s*\[[^\]]*\]")]
    private static partial Regex IdPattern();

    [GeneratedRegex(@"/Encrypt\b")]
    private static partial Regex EncryptPattern();

    [GeneratedRegex(@"^(\d+)\s+\d+\s+obj\b")]
    private static partial Regex ObjectHeaderPattern();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhitespacePattern();
}
