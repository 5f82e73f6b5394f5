using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Client.Pdf;
using DTrust.Signing.V1;

namespace DTrust.Client.Commands;

/// <summary>
/// The PDF half of <c>dtrust sign</c>: a signature field is prepared here, only the hash of its byte ranges goes to
/// the server, and the PAdES CMS it answers is embedded; then the DSS (B-LT) and a document time-stamp (B-LTA)
/// follow as further incremental updates. Nothing is written until every step succeeded.
/// </summary>
internal static class PdfSigning
{
    public static readonly string[] Levels = ["B-B", "B-T", "B-LT", "B-LTA"];

    public static bool IsPdf(FileInfo file)
    {
        using var stream = file.OpenRead();
        var head = new byte[1024];
        var read = stream.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        var isPdf = System.Text.Encoding.Latin1.GetString(head, 0, read).Contains("%PDF-", StringComparison.Ordinal);

        // A file named .pdf that is none was meant to be signed as a PDF: say so rather than sign it as bytes.
        return isPdf || !file.Extension.Equals(".pdf", StringComparison.OrdinalIgnoreCase)
            ? isPdf
            : throw new PdfInputException($"{file.Name}: not a PDF (no %PDF- header)");
    }

    /// <summary>contract.pdf → contract-signed.pdf, beside it.</summary>
    public static string TargetOf(FileInfo file) =>
        Path.Combine(file.DirectoryName ?? ".", Path.GetFileNameWithoutExtension(file.Name) + "-signed.pdf");

    /// <summary>
    /// "PAGE,X,Y,W,H" in PDF points from the page's lower left corner (A4 is 595 × 842). The box names the holder,
    /// the time claimed now (the time-stamp's time is inside the signature) and the level.
    /// </summary>
    public static SignatureAppearance Appearance(string? visible, X509Certificate2 certificate, string level, DateTimeOffset time)
    {
        if (visible is null)
        {
            return SignatureAppearance.Invisible;
        }

        var parts = visible.Split(',');
        var numbers = parts.Select(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN).ToArray();
        if (parts.Length != 5 || numbers.Any(double.IsNaN) || numbers[0] < 1 || numbers[0] != Math.Floor(numbers[0]) || numbers[3] < 20 || numbers[4] < 10)
        {
            throw new ArgumentException($"--visible '{visible}': expected PAGE,X,Y,W,H (page from 1, points; at least 20 × 10), e.g. 1,360,60,200,50");
        }

        var name = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        return new SignatureAppearance((int)numbers[0], numbers[1], numbers[2], numbers[3], numbers[4],
        [
            $"Digitally signed by {name}",
            $"Date: {time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)} UTC",
            $"PAdES {level}",
        ]);
    }

    public static PreparedSignature Prepare(FileInfo file, SignatureAppearance appearance, DateTimeOffset time, string? reason, string? location)
    {
        var revision = PdfRevision.Open(File.ReadAllBytes(file.FullName), file.Name);
        try
        {
            return PadesSigner.Prepare(revision, appearance, time, reason, location);
        }
        catch (PdfInputException e)
        {
            throw new PdfInputException($"{file.Name}: {e.Message}");
        }
    }

    /// <summary>Embeds the CMS, then adds what <paramref name="level"/> asks for beyond B-T.</summary>
    public static async Task<byte[]> FinishAsync(DTrustClient client, PreparedSignature prepared, byte[] cms, string level,
        Func<Task<ValidationData>> validationData, string name, CancellationToken ct)
    {
        var file = prepared.Embed(cms);
        if (level is "B-LT" or "B-LTA")
        {
            var data = await validationData();
            file = PadesSigner.AddValidationData(PdfRevision.Open(file, name), prepared.ContentsValue(cms),
                data.Certificates.Select(c => c.ToByteArray()).ToList(), data.OcspResponses.Select(o => o.ToByteArray()).ToList(),
                data.Crls.Select(c => c.ToByteArray()).ToList());
        }

        if (level == "B-LTA")
        {
            // The document time-stamp covers the signature and the DSS: it proves both existed at its time.
            var stamp = PadesSigner.Prepare(PdfRevision.Open(file, name), SignatureAppearance.Invisible, DateTimeOffset.UtcNow,
                reason: null, location: null, docTimeStamp: true);
            var (_, token) = await client.TimestampHashAsync(stamp.Hash(HashAlgorithmName.SHA256), HashAlgorithmName.SHA256, ct);
            file = stamp.Embed(token);
        }

        return file;
    }

    /// <summary>
    /// Writes each file beside its target and renames them once all are written: a failure leaves no half-written
    /// PDF and no .partial file behind; an existing target is never replaced.
    /// </summary>
    public static async Task WriteAllAsync(IReadOnlyList<(string Target, byte[] File)> files, CancellationToken ct)
    {
        var written = new List<string>();
        try
        {
            foreach (var (target, file) in files)
            {
                var temporary = target + ".partial";
                written.Add(temporary);
                await File.WriteAllBytesAsync(temporary, file, ct);
            }

            foreach (var (target, _) in files)
            {
                File.Move(target + ".partial", target, overwrite: false);
                written.Remove(target + ".partial");
            }
        }
        finally
        {
            foreach (var leftover in written)
            {
                File.Delete(leftover);
            }
        }
    }
}
