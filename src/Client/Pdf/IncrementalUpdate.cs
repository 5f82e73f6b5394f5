using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using PdfSharp.Pdf;

namespace DTrust.Client.Pdf;

/// <summary>
/// An incremental update (ISO 32000-1 §7.5.6): new and changed objects appended after the last %%EOF, then a
/// cross-reference section of the same kind as the last one (table or stream) whose /Prev points back. The bytes
/// before are never touched, which is what keeps earlier signatures valid.
/// </summary>
#pragma warning disable CA1001 // The MemoryStream holds only managed memory; nothing to release early.
internal sealed class IncrementalUpdate
#pragma warning restore CA1001
{
    private readonly PdfRevision _revision;
    private readonly MemoryStream _body = new();
    private readonly SortedDictionary<int, (long Offset, int Generation)> _offsets = [];
    private readonly List<PdfObject> _changed = [];
    private int _next;

    public IncrementalUpdate(PdfRevision revision)
    {
        _revision = revision;
        _next = revision.Size;
        // An update starts on a line of its own, whatever the last byte before it was.
        Raw("\n");
    }

    /// <summary>The absolute file offset the next byte written will have.</summary>
    public long Position => _revision.Bytes.Length + _body.Length;

    /// <summary>A new object number, from the trailer's /Size on.</summary>
    public int Reserve() => _next++;

    public static string Ref(int number) => $"{number} 0 R";

    public static string Ref(PdfObject obj) => $"{obj.Reference!.ObjectNumber} {obj.Reference.GenerationNumber} R";

    /// <summary>Writes object <paramref name="number"/> whose whole body is <paramref name="body"/>.</summary>
    public void Object(int number, string body)
    {
        Begin(number);
        Raw(body);
        End();
    }

    /// <summary>Writes a stream object: <paramref name="dictionary"/> entries (without &lt;&lt; &gt;&gt;) and the data unfiltered.</summary>
    public void Stream(int number, byte[] data, string dictionary = "")
    {
        Begin(number);
        Raw($"<< {dictionary} /Length {data.Length} >>\nstream\n");
        _body.Write(data);
        Raw("\nendstream");
        End();
    }

    /// <summary>
    /// Marks an existing object that the caller changed in PDFsharp's model, to be written again (once) at the end;
    /// a direct object is written as part of <paramref name="container"/>, the indirect object that holds it.
    /// </summary>
    public void Changed(PdfObject obj, PdfObject container)
    {
        var target = obj.IsIndirect ? obj : container;

        // PDFsharp's WriteObject leaves stream data out: a changed stream cannot be written again this way.
        if (target is PdfDictionary { Stream: not null })
        {
            throw new InvalidOperationException($"object {target.Reference!.ObjectNumber} is a stream; it cannot be rewritten here");
        }

        if (!_changed.Contains(target))
        {
            _changed.Add(target);
        }
    }

    public void Begin(int number)
    {
        _offsets[number] = (Position, 0);
        Raw($"{number} 0 obj\n");
    }

    public void End() => Raw("\nendobj\n");

    public void Raw(string text) => _body.Write(Encoding.Latin1.GetBytes(text));

    public void Raw(ReadOnlySpan<byte> bytes) => _body.Write(bytes);

    /// <summary>The whole new file: the old bytes, the objects, the cross-reference section and the trailer.</summary>
    public byte[] Finish()
    {
        foreach (var obj in _changed)
        {
            // The object keeps its generation: its references say "N G R" and must find it.
            _offsets[obj.Reference!.ObjectNumber] = (Position, obj.Reference.GenerationNumber);
            _revision.Document.Internals.WriteObject(_body, obj);
        }

        var trailer = new StringBuilder();
        trailer.Append(CultureInfo.InvariantCulture, $"/Root {_revision.Root}");
        if (_revision.Info is not null)
        {
            trailer.Append(CultureInfo.InvariantCulture, $" /Info {_revision.Info}");
        }

        if (_revision.Id is not null)
        {
            trailer.Append(CultureInfo.InvariantCulture, $" /ID {_revision.Id}");
        }

        trailer.Append(CultureInfo.InvariantCulture, $" /Prev {_revision.StartXref}");
        var start = Position;
        if (_revision.XrefIsStream)
        {
            WriteXrefStream(trailer.ToString());
        }
        else
        {
            WriteXrefTable(trailer.ToString());
        }

        Raw($"startxref\n{start}\n%%EOF\n");
        var file = new byte[_revision.Bytes.Length + _body.Length];
        _revision.Bytes.CopyTo(file, 0);
        _body.ToArray().CopyTo(file, _revision.Bytes.Length);
        return file;
    }

    private void WriteXrefTable(string trailer)
    {
        var xref = new StringBuilder("xref\n");
        foreach (var run in Runs())
        {
            xref.Append(CultureInfo.InvariantCulture, $"{run[0].Key} {run.Count}\n");
            foreach (var (_, (offset, generation)) in run)
            {
                // Each entry is exactly 20 bytes: 10-digit offset, 5-digit generation, type, two-byte end of line.
                xref.Append(CultureInfo.InvariantCulture, $"{offset:D10} {generation:D5} n\r\n");
            }
        }

        Raw(xref.ToString());
        Raw($"trailer\n<< /Size {_next} {trailer} >>\n");
    }

    private void WriteXrefStream(string trailer)
    {
        // The stream lists itself too; fields: type (1 byte), offset (4 bytes), generation (2 bytes), unfiltered.
        var self = Reserve();
        _offsets[self] = (Position, 0);
        var rows = new byte[_offsets.Count * 7];
        var i = 0;
        foreach (var (_, (offset, generation)) in _offsets)
        {
            rows[i] = 1;
            BinaryPrimitives.WriteUInt32BigEndian(rows.AsSpan(i + 1), checked((uint)offset));
            BinaryPrimitives.WriteUInt16BigEndian(rows.AsSpan(i + 5), checked((ushort)generation));
            i += 7;
        }

        var index = string.Join(' ', Runs().Select(r => $"{r[0].Key} {r.Count}"));
        Raw($"{self} 0 obj\n<< /Type /XRef /Size {_next} /W [1 4 2] /Index [{index}] {trailer} /Length {rows.Length} >>\nstream\n");
        Raw(rows);
        Raw("\nendstream\nendobj\n");
    }

    /// <summary>Object numbers grouped into consecutive runs, as both kinds of section index them.</summary>
    private List<List<KeyValuePair<int, (long Offset, int Generation)>>> Runs()
    {
        var runs = new List<List<KeyValuePair<int, (long Offset, int Generation)>>>();
        foreach (var entry in _offsets)
        {
            if (runs.Count == 0 || runs[^1][^1].Key + 1 != entry.Key)
            {
                runs.Add([]);
            }

            runs[^1].Add(entry);
        }

        return runs;
    }
}
