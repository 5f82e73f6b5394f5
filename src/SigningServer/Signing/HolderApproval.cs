using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace DTrust.SigningServer.Signing;

/// <summary>Where a holder-approval authorization stands; USED once its SAD signed.</summary>
public enum ApprovalState
{
    Pending,
    Approved,
    Rejected,
    Expired,
    Used,
}

/// <summary>One document the holder approves: the partner's label and the hash.</summary>
public sealed record ApprovalDocument(string Label, byte[] Hash);

/// <summary>
/// A holder-approval authorization as AuthorizeSignature made it (kept in Redis, sealed): who asked, for which
/// credential, which documents exactly, and what the holder is shown. Everything here is in the canonical
/// transaction the holder approves and the audit keeps.
/// </summary>
public sealed record PendingApproval(
    string Id,
    string PartnerId,
    string PartnerName,
    string Tenant,
    string CredentialId,
    string Level,
    string Subject,
    string HashAlgorithm,
    IReadOnlyList<ApprovalDocument> Documents,
    string? Description,
    DateTimeOffset ExpiresAt,
    string? ReturnUrl,
    string? PartnerState)
{
    /// <summary>
    /// OAuth 2.0 (CSC <c>oauth2/authorize</c>): the PKCE S256 challenge the token request's verifier must match; null
    /// for an approval asked over gRPC. The return URL then answers in OAuth's words (<c>error=access_denied</c>).
    /// </summary>
    public string? CodeChallenge { get; init; }

    /// <summary>The hash list digest the signing side compares (<see cref="Policy.SigningPolicy.ListDigest"/>).</summary>
    public string ListDigest => Policy.SigningPolicy.ListDigest(
        [.. Documents.Select(d => (ReadOnlyMemory<byte>)d.Hash)], new HashAlgorithmName(HashAlgorithm));

    /// <summary>
    /// The transaction the holder approves, as canonical UTF-8 JSON: fixed member order, no insignificant white
    /// space, hashes in lower-case hex, the expiry in unix seconds. A passkey assertion is made over its digest
    /// and the audit keeps it verbatim, so an auditor re-derives exactly what the holder saw.
    /// </summary>
    public byte[] CanonicalTransaction()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = false }))
        {
            json.WriteStartObject();
            json.WriteString("v", "dtrust-approval-1");
            json.WriteString("authorization", Id);
            json.WriteString("credential", CredentialId);
            json.WriteString("partner", PartnerId);
            json.WriteString("partner_name", PartnerName);
            json.WriteString("level", Level);
            json.WriteString("subject", Subject);
            json.WriteString("hash_algorithm", HashAlgorithm);
            json.WriteStartArray("documents");
            foreach (var d in Documents)
            {
                json.WriteStartObject();
                json.WriteString("label", d.Label);
                json.WriteString("hash", Convert.ToHexStringLower(d.Hash));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteString("description", Description ?? "");
            json.WriteNumber("expires", ExpiresAt.ToUnixTimeSeconds());
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    /// <summary>Every field, for the seal (length-prefixed by <see cref="OneTimeCodes.SealFields"/>).</summary>
    internal string[] SealedFields()
    {
        string[] fields =
        [
            Id, PartnerId, PartnerName, Tenant, CredentialId, Level, Subject, HashAlgorithm,
            Convert.ToBase64String(CanonicalTransaction()), ReturnUrl ?? "", PartnerState ?? "",
            ExpiresAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
        ];

        // Appended only when present, so an approval sealed before the field existed still verifies.
        return CodeChallenge is null ? fields : [.. fields, "pkce:" + CodeChallenge];
    }

    /// <summary>The short fingerprint of a document hash shown to the holder: the first 8 bytes, grouped.</summary>
    public static string Fingerprint(byte[] hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        var hex = Convert.ToHexString(hash.AsSpan(0, Math.Min(8, hash.Length)));
        var grouped = new StringBuilder();
        for (var i = 0; i < hex.Length; i += 4)
        {
            grouped.Append(i == 0 ? "" : " ").Append(hex.AsSpan(i, Math.Min(4, hex.Length - i)));
        }

        return grouped.ToString();
    }
}

/// <summary>
/// What the holder's approval left: the key re-wrapped under the SAD's KEK, the SAD sealed for the partner (never
/// in clear in Redis), the factor, and the evidence of the factor (for a passkey the assertion and its public key).
/// </summary>
public sealed record ApprovalGrant(string WrappedKeyJson, string SealedSad, string SadDigest, string Factor, string EvidenceJson);

/// <summary>What the partner's status call sees.</summary>
public sealed record ApprovalStatus(string Id, string CredentialId, ApprovalState State, DateTimeOffset ExpiresAt, string? Sad, string? Factor);
