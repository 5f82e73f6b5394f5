using System.Formats.Asn1;
using System.Security.Cryptography;

namespace DTrust.Tsa.Internal;

/// <summary>AlgorithmIdentifier encodings for the CMS digest and signature fields (RFC 5754, RFC 4055).</summary>
internal static class AlgorithmIds
{
    /// <summary>SHA-2 digest identifiers with absent parameters, as RFC 5754 §2 recommends.</summary>
    public static byte[] Digest(HashAlgorithmName hash) => Encode(HashOid(hash), null);

    /// <summary>ecdsa-with-SHA256/384/512, parameters absent (RFC 5758 §3.2).</summary>
    public static byte[] Ecdsa(HashAlgorithmName hash) => Encode(
        hash == HashAlgorithmName.SHA256 ? "1.2.840.10045.4.3.2"
        : hash == HashAlgorithmName.SHA384 ? "1.2.840.10045.4.3.3"
        : "1.2.840.10045.4.3.4",
        null);

    public static byte[] Rsa(HashAlgorithmName hash, RSASignaturePadding padding)
    {
        if (padding == RSASignaturePadding.Pkcs1)
        {
            // sha256/384/512WithRSAEncryption with NULL parameters (RFC 4055 §5).
            return Encode(
                hash == HashAlgorithmName.SHA256 ? "1.2.840.113549.1.1.11"
                : hash == HashAlgorithmName.SHA384 ? "1.2.840.113549.1.1.12"
                : "1.2.840.113549.1.1.13",
                w => w.WriteNull());
        }

        // RSASSA-PSS with the hash, MGF1 over the same hash, and salt = hash length: what .NET's PSS signs with.
        var saltLength = hash == HashAlgorithmName.SHA256 ? 32 : hash == HashAlgorithmName.SHA384 ? 48 : 64;
        return Encode("1.2.840.113549.1.1.10", w =>
        {
            using (w.PushSequence())
            {
                using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                {
                    w.WriteEncodedValue(Digest(hash));
                }

                using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 1, isConstructed: true)))
                {
                    w.WriteEncodedValue(Encode("1.2.840.113549.1.1.8", m => m.WriteEncodedValue(Digest(hash))));
                }

                using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true)))
                {
                    w.WriteInteger(saltLength);
                }
            }
        });
    }

    private static string HashOid(HashAlgorithmName hash) =>
        hash == HashAlgorithmName.SHA256 ? Oids.Sha256
        : hash == HashAlgorithmName.SHA384 ? Oids.Sha384
        : hash == HashAlgorithmName.SHA512 ? Oids.Sha512
        : throw new CryptographicException($"unsupported hash {hash}");

    private static byte[] Encode(string oid, Action<AsnWriter>? writeParameters)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteObjectIdentifier(oid);
            writeParameters?.Invoke(writer);
        }

        return writer.Encode();
    }
}
