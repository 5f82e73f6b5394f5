using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace DTrust.Client.Commands;

/// <summary>The verdict on one signature's approval evidence: what was checked, and the first thing that failed.</summary>
internal sealed record EvidenceVerdict(bool Ok, string Factor, IReadOnlyList<string> Checked, string? Problem);

/// <summary>
/// Re-verifies the holder's approval that a <c>signature.created</c> audit entry carries, without the server: the
/// signed hash is one of the documents of the canonical transaction, the transaction names this credential and, for a
/// passkey, the device's signature over authenticator data and client data verifies with the public key recorded at
/// pairing, the client data's challenge is SHA-256(label ‖ nonce ‖ transaction), its origin is ours and the
/// authenticator says the user was present and verified. An SMS code leaves nothing a third party can check beyond
/// the transaction shown: the code's MAC needs the server's secret, and the verdict says so.
/// </summary>
internal static class ApprovalEvidence
{
    private static readonly byte[] PasskeyLabel = "DTrust passkey approval v1\n"u8.ToArray();

    public static EvidenceVerdict Verify(string credentialId, string detailsJson)
    {
        var checks = new List<string>();
        try
        {
            using var details = JsonDocument.Parse(detailsJson);
            var root = details.RootElement;
            if (root.TryGetProperty("mode", out var mode) && mode.ValueKind == JsonValueKind.String && mode.GetString() == "seal")
            {
                // A seal has no person to approve: its registered caller signed, which the entry's actor names.
                var count = root.TryGetProperty("hashes", out var hashes) && hashes.ValueKind == JsonValueKind.Array ? hashes.GetArrayLength() : 1;
                checks.Add($"seal: {count} hash(es) signed by a caller registered on the seal, no holder approval");
                return new(true, "seal", checks, null);
            }

            if (!root.TryGetProperty("approval", out var approval) || approval.ValueKind != JsonValueKind.Object)
            {
                // Explicit mode leaves no approval to check; that the entry was not stripped of one is the hash chain's
                // to show (dtrust audit verify).
                checks.Add("no holder approval: explicit mode, the partner relayed PIN and code");
                return new(true, "explicit", checks, null);
            }

            var factor = approval.GetProperty("factor").GetString() ?? "";
            var transactionText = approval.GetProperty("transaction").GetString() ?? "";
            using var transaction = JsonDocument.Parse(transactionText);
            var t = transaction.RootElement;
            if (t.GetProperty("credential").GetString() != credentialId)
            {
                return new(false, factor, checks, "the transaction names another credential");
            }

            var hash = root.GetProperty("hash").GetString() ?? "";
            if (!t.GetProperty("documents").EnumerateArray().Any(d => string.Equals(d.GetProperty("hash").GetString(), hash, StringComparison.OrdinalIgnoreCase)))
            {
                return new(false, factor, checks, "the signed hash is not among the documents the holder approved");
            }

            checks.Add($"hash among the {t.GetProperty("documents").GetArrayLength()} approved document(s) of {t.GetProperty("authorization").GetString()}");
            if (factor != "passkey")
            {
                checks.Add(factor == "sms"
                    ? "factor sms: the code was checked by the server (its MAC needs the server secret)"
                    : $"factor {factor}");
                return new(true, factor, checks, null);
            }

            return VerifyPasskey(approval.GetProperty("evidence"), Encoding.UTF8.GetBytes(transactionText), checks);
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or CborContentException or CryptographicException)
        {
            return new(false, "unknown", checks, "the evidence is malformed: " + e.Message);
        }
    }

    private static EvidenceVerdict VerifyPasskey(JsonElement evidence, byte[] transaction, List<string> checks)
    {
        byte[] B64(string name) => Convert.FromBase64String(evidence.GetProperty(name).GetString() ?? "");
        var clientData = B64("client_data_json");
        var authData = B64("authenticator_data");
        using var client = JsonDocument.Parse(clientData);
        var c = client.RootElement;
        var expected = Base64Url(SHA256.HashData([.. PasskeyLabel, .. B64("nonce"), .. transaction]));
        if (c.GetProperty("type").GetString() != "webauthn.get" || c.GetProperty("challenge").GetString() != expected)
        {
            return new(false, "passkey", checks, "the client data's challenge is not the digest of this transaction");
        }

        checks.Add("challenge = SHA-256(label, nonce, transaction)");
        var origin = evidence.GetProperty("origin").GetString();
        if (c.GetProperty("origin").GetString() != origin || (c.TryGetProperty("crossOrigin", out var cross) && cross.ValueKind == JsonValueKind.True))
        {
            return new(false, "passkey", checks, "the assertion was made for another origin or in a cross-origin frame");
        }

        var rpId = evidence.GetProperty("rp_id").GetString() ?? "";
        if (authData.Length < 37 || !authData.AsSpan(0, 32).SequenceEqual(SHA256.HashData(Encoding.UTF8.GetBytes(rpId))))
        {
            return new(false, "passkey", checks, "the authenticator data is for another relying party");
        }

        // Flags: UP (bit 0) and UV (bit 2): the holder was there and unlocked the device.
        if ((authData[32] & 0x05) != 0x05)
        {
            return new(false, "passkey", checks, "the authenticator did not verify the user");
        }

        checks.Add($"origin {origin}, RP ID {rpId}, user present and verified");
        byte[] signed = [.. authData, .. SHA256.HashData(clientData)];
        if (!VerifyCose(B64("public_key"), signed, B64("signature")))
        {
            return new(false, "passkey", checks, "the device's signature does not verify with its public key");
        }

        checks.Add($"device signature verified (passkey {evidence.GetProperty("passkey").GetString()})");
        return new(true, "passkey", checks, null);
    }

    /// <summary>Verifies with a COSE_Key (RFC 9053): EC2 P-256/P-384 (ES256/ES384) or RSA (RS256, PS256).</summary>
    private static bool VerifyCose(byte[] coseKey, byte[] data, byte[] signature)
    {
        var reader = new CborReader(coseKey);
        var fields = new Dictionary<int, object>();
        var count = reader.ReadStartMap() ?? throw new FormatException("indefinite COSE key");
        for (var i = 0; i < count; i++)
        {
            var label = reader.ReadInt32();
            fields[label] = reader.PeekState() switch
            {
                CborReaderState.ByteString => reader.ReadByteString(),
                CborReaderState.NegativeInteger or CborReaderState.UnsignedInteger => reader.ReadInt32(),
                _ => SkipAndNull(reader),
            };
        }

        var kty = fields.GetValueOrDefault(1) as int?;
        var alg = fields.GetValueOrDefault(3) as int?;
        if (kty == 2)
        {
            var curve = fields.GetValueOrDefault(-1) as int? == 2 ? ECCurve.NamedCurves.nistP384 : ECCurve.NamedCurves.nistP256;
            using var ec = ECDsa.Create(new ECParameters { Curve = curve, Q = new ECPoint { X = (byte[])fields[-2], Y = (byte[])fields[-3] } });
            var hash = alg == -35 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;
            return ec.VerifyData(data, signature, hash, DSASignatureFormat.Rfc3279DerSequence);
        }

        if (kty == 3)
        {
            using var rsa = RSA.Create(new RSAParameters { Modulus = (byte[])fields[-1], Exponent = (byte[])fields[-2] });
            return rsa.VerifyData(data, signature, HashAlgorithmName.SHA256, alg == -37 ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1);
        }

        throw new FormatException($"COSE key type {kty} is not supported");
    }

    private static long SkipAndNull(CborReader reader)
    {
        reader.SkipValue();
        return 0;
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
