using System.Formats.Asn1;
using System.Security.Cryptography;

namespace DTrust.Cms;

/// <summary>AlgorithmIdentifier encodings of the CMS digest and signature fields (RFC 5754, RFC 5758, RFC 4055).</summary>
public static class CmsAlgorithms
{
    private static readonly Asn1Tag Context0 = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag Context1 = new(TagClass.ContextSpecific, 1, isConstructed: true);
    private static readonly Asn1Tag Context2 = new(TagClass.ContextSpecific, 2, isConstructed: true);

    private static readonly HashAlgorithmName[] Hashes = [HashAlgorithmName.SHA256, HashAlgorithmName.SHA384, HashAlgorithmName.SHA512];

    // Encoded once: every signature needs them, and a TSA writes thousands a second.
    private static readonly Dictionary<HashAlgorithmName, byte[]> Digests = Hashes.ToDictionary(h => h, h => Encode(CmsOids.Digest(h), null));
    private static readonly Dictionary<(CmsSignatureScheme, HashAlgorithmName), byte[]> Signatures =
        Enum.GetValues<CmsSignatureScheme>().SelectMany(s => Hashes.Select(h => (s, h))).ToDictionary(k => k, k => EncodeSignature(k.s, k.h));

    /// <summary>A SHA-2 digest identifier with absent parameters (RFC 5754 §2).</summary>
    public static ReadOnlyMemory<byte> Digest(HashAlgorithmName hash) =>
        Digests.TryGetValue(hash, out var der) ? der : throw new ArgumentException($"hash algorithm '{hash.Name}' is not SHA-256, SHA-384 or SHA-512", nameof(hash));

    /// <summary>The signatureAlgorithm of a SignerInfo signed with <paramref name="scheme"/> over <paramref name="hash"/>.</summary>
    public static ReadOnlyMemory<byte> Signature(CmsSignatureScheme scheme, HashAlgorithmName hash) =>
        Signatures.TryGetValue((scheme, hash), out var der) ? der : EncodeSignature(scheme, hash);

    private static byte[] EncodeSignature(CmsSignatureScheme scheme, HashAlgorithmName hash) => scheme switch
    {
        // Parameters absent (RFC 5758 §3.2).
        CmsSignatureScheme.Ecdsa => Encode(CmsOids.EcdsaWith(hash), null),

        // Parameters NULL (RFC 4055 §5).
        CmsSignatureScheme.RsaPkcs1 => Encode(CmsOids.RsaPkcs1With(hash), w => w.WriteNull()),

        // RSASSA-PSS-params: the hash, MGF1 over the same hash, salt = hash length (what .NET and the HSM sign with);
        // the hash identifiers inside carry NULL parameters, as RFC 4055 §2.1 writes them.
        CmsSignatureScheme.RsaPss => Encode(CmsOids.RsaPss, w =>
        {
            using (w.PushSequence())
            {
                using (w.PushSequence(Context0))
                {
                    w.WriteEncodedValue(Encode(CmsOids.Digest(hash), n => n.WriteNull()));
                }

                using (w.PushSequence(Context1))
                {
                    w.WriteEncodedValue(Encode(CmsOids.Mgf1, m => m.WriteEncodedValue(Encode(CmsOids.Digest(hash), n => n.WriteNull()))));
                }

                using (w.PushSequence(Context2))
                {
                    w.WriteInteger(CmsOids.HashLength(hash));
                }
            }
        }),
        _ => throw new ArgumentException($"unknown signature scheme {scheme}", nameof(scheme)),
    };

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
