using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace DTrust.Client.Commands;

/// <summary>A checkpoint of the audit chain as the server signs it (see the server's AuditCheckpoints for the form).</summary>
internal sealed record AuditCheckpointNote(
    string File, string Text, long Size, byte[] Head, string Time, byte[]? Previous, byte[] Signature, byte[] TimeStampToken, byte[] KeyId)
{
    /// <summary>The RFC 9162 Merkle root over the entries (the "merkle" line), null in checkpoints from before it.</summary>
    public byte[]? Merkle { get; init; }

    /// <summary>What the next checkpoint's "prev" line must say.</summary>
    public byte[] Hash => SHA256.HashData(Encoding.UTF8.GetBytes(Text));
}

/// <summary>
/// Reads and checks checkpoints with nothing but the audit certificate and the root: the audit key's signature over
/// the text, the time-stamp over its SHA-256 (the TSA's chain to the root), and that each extends the one before.
/// </summary>
internal static class AuditCheckpointCheck
{
    public const string AuditKeyName = "dtrust-audit";
    public const string TsaKeyName = "dtrust-tsa";

    public static AuditCheckpointNote Parse(string file, string note)
    {
        var blank = note.IndexOf("\n\n", StringComparison.Ordinal);
        if (blank < 0)
        {
            throw new FormatException($"{file}: not a signed note (no blank line before the signatures)");
        }

        var text = note[..(blank + 1)];
        var lines = text.TrimEnd('\n').Split('\n');
        if (lines.Length < 4 || !long.TryParse(lines[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            throw new FormatException($"{file}: not an audit checkpoint (origin, size, head hash, time)");
        }

        var extensions = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var parts in lines.Skip(3).Select(l => l.Split(' ', 2)).Where(p => p.Length == 2))
        {
            if (!extensions.TryAdd(parts[0], parts[1]))
            {
                throw new FormatException($"{file}: the line '{parts[0]}' appears twice");
            }
        }

        byte[]? Signed(string name)
        {
            var line = note[(blank + 2)..].Split('\n').FirstOrDefault(l => l.StartsWith($"\u2014 {name} ", StringComparison.Ordinal));
            return line is null ? null : Convert.FromBase64String(line[(name.Length + 3)..]);
        }

        var audit = Signed(AuditKeyName) ?? throw new FormatException($"{file}: no {AuditKeyName} signature");
        var stamp = Signed(TsaKeyName) ?? throw new FormatException($"{file}: no {TsaKeyName} time-stamp");
        return new AuditCheckpointNote(file, text, size, Convert.FromBase64String(lines[2]), extensions.GetValueOrDefault("time") ?? "",
            extensions.TryGetValue("prev", out var prev) ? Convert.FromBase64String(prev) : null, audit[4..], stamp[4..], audit[..4])
        {
            Merkle = extensions.TryGetValue("merkle", out var merkle) ? Convert.FromBase64String(merkle) : null,
        };
    }

    /// <summary>The problem with one checkpoint's own signatures, or null.</summary>
    public static string? CheckSignatures(AuditCheckpointNote note, X509Certificate2 auditCertificate, X509Certificate2Collection roots)
    {
        using var key = auditCertificate.GetECDsaPublicKey() ?? throw new ArgumentException("the audit certificate has no EC key");
        var keyId = SHA256.HashData([.. Encoding.UTF8.GetBytes(AuditKeyName + "\n"), .. auditCertificate.PublicKey.ExportSubjectPublicKeyInfo()])[..4];
        if (!keyId.AsSpan().SequenceEqual(note.KeyId))
        {
            return $"{note.File}: signed by another key than the audit certificate's";
        }

        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(note.Text));
        if (!key.VerifyHash(digest, note.Signature, DSASignatureFormat.Rfc3279DerSequence))
        {
            return $"{note.File}: the audit key's signature does not verify (the checkpoint was changed, or signed by another key)";
        }

        if (!Rfc3161TimestampToken.TryDecode(note.TimeStampToken, out var token, out _)
            || !token.VerifySignatureForHash(digest, HashAlgorithmName.SHA256, out var tsa, token.AsSignedCms().Certificates) || tsa is null)
        {
            return $"{note.File}: the time-stamp does not verify over the checkpoint";
        }

        // The TSA must be a time-stamping unit under the root (not any certificate it issued), the audit key certified by it.
        var at = token.TokenInfo.Timestamp.UtcDateTime;
        return !Chains(tsa, roots, token.AsSignedCms().Certificates, at, "1.3.6.1.5.5.7.3.8")
            ? $"{note.File}: the time-stamp's TSA is not a time-stamping unit under the root"
            : !Chains(auditCertificate, roots, [], at, null)
                ? $"{note.File}: the audit certificate does not chain to the root at {at:yyyy-MM-dd HH:mm:ss}Z"
                : null;
    }

    private static bool Chains(X509Certificate2 leaf, X509Certificate2Collection roots, X509Certificate2Collection extra, DateTime at, string? eku) =>
        TrustChain.Chains(leaf, roots, extra, at, eku);
}
