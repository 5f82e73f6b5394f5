using System.Formats.Asn1;
using System.Security.Cryptography;

using DTrust.Cms;

namespace DTrust.Tsa.Internal;

/// <summary>
/// Strict DER reader for TimeStampReq (RFC 3161 §2.4.1). Written by hand rather than through
/// Rfc3161TimestampRequest so that each defect maps to its own PKIFailureInfo bit.
/// </summary>
internal static class TimeStampRequestParser
{
    /// <summary>Far above any real request (about 100 bytes) yet bounded, so junk cannot make us parse megabytes.</summary>
    public const int MaxRequestLength = 64 * 1024;

    /// <summary>Nonces are 64 bits from openssl and rarely above 160 bits elsewhere; 64 bytes leaves room.</summary>
    private const int MaxNonceLength = 64;

    private static readonly Asn1Tag ExtensionsTag = new(TagClass.ContextSpecific, 0, isConstructed: true);

    /// <exception cref="RequestRefusedException">The request must be refused; Failure says why.</exception>
    public static TimeStampRequest Parse(ReadOnlySpan<byte> der, ISet<string> acceptedPolicies)
    {
        if (der.IsEmpty || der.Length > MaxRequestLength)
        {
            throw new RequestRefusedException(PkiFailureInfo.BadDataFormat, "request is empty or too large");
        }

        try
        {
            return ParseCore(der.ToArray(), acceptedPolicies);
        }
        catch (AsnContentException e)
        {
            throw new RequestRefusedException(PkiFailureInfo.BadDataFormat, "request is not DER TimeStampReq: " + e.Message);
        }
    }

    /// <summary>Builds the MessageImprint DER for the in-process API, where no request exists.</summary>
    public static byte[] EncodeMessageImprint(HashAlgorithmName hashAlgorithm, ReadOnlySpan<byte> digest)
    {
        var (oid, length) = DigestInfo(hashAlgorithm)
            ?? throw new RequestRefusedException(PkiFailureInfo.BadAlg, $"unsupported hash algorithm {hashAlgorithm}");
        if (digest.Length != length)
        {
            throw new RequestRefusedException(PkiFailureInfo.BadDataFormat,
                $"{hashAlgorithm} digest must be {length} bytes, got {digest.Length}");
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(oid);
            }

            writer.WriteOctetString(digest);
        }

        return writer.Encode();
    }

    private static TimeStampRequest ParseCore(ReadOnlyMemory<byte> der, ISet<string> acceptedPolicies)
    {
        var outer = new AsnReader(der, AsnEncodingRules.DER);
        var req = outer.ReadSequence();
        outer.EnsureAtEnd();

        if (!req.TryReadInt32(out var version) || version != 1)
        {
            throw new RequestRefusedException(PkiFailureInfo.BadRequest, "only TimeStampReq version 1 is supported");
        }

        var imprint = req.ReadEncodedValue();
        var hashAlgorithm = ReadMessageImprint(imprint);

        string? policy = null;
        if (req.HasData && req.PeekTag().HasSameClassAndValue(Asn1Tag.ObjectIdentifier))
        {
            policy = req.ReadObjectIdentifier();
            if (!acceptedPolicies.Contains(policy))
            {
                throw new RequestRefusedException(PkiFailureInfo.UnacceptedPolicy, $"policy {policy} is not offered");
            }
        }

        ReadOnlyMemory<byte>? nonce = null;
        if (req.HasData && req.PeekTag().HasSameClassAndValue(Asn1Tag.Integer))
        {
            nonce = req.ReadIntegerBytes();
            if (nonce.Value.Length > MaxNonceLength)
            {
                throw new RequestRefusedException(PkiFailureInfo.BadDataFormat, "nonce is too long");
            }
        }

        // An explicit FALSE is not strict DER (DEFAULT FALSE should be omitted) but some clients send it and it
        // changes nothing, so it is accepted.
        var certReq = false;
        if (req.HasData && req.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean))
        {
            certReq = req.ReadBoolean();
        }

        if (req.HasData && req.PeekTag().HasSameClassAndValue(ExtensionsTag))
        {
            CheckExtensions(req.ReadSequence(ExtensionsTag));
        }

        req.EnsureAtEnd();
        return new TimeStampRequest(hashAlgorithm, imprint, policy, nonce, certReq);
    }

    private static HashAlgorithmName ReadMessageImprint(ReadOnlyMemory<byte> imprint)
    {
        var seq = new AsnReader(imprint, AsnEncodingRules.DER).ReadSequence();
        var algId = seq.ReadSequence();
        var oid = algId.ReadObjectIdentifier();
        if (algId.HasData)
        {
            // RFC 5754 allows absent or NULL parameters for the SHA-2 family; anything else is not SHA-2.
            if (!algId.PeekTag().HasSameClassAndValue(Asn1Tag.Null))
            {
                throw new RequestRefusedException(PkiFailureInfo.BadAlg, "unexpected hash algorithm parameters");
            }

            algId.ReadNull();
            algId.EnsureAtEnd();
        }

        var digest = seq.ReadOctetString();
        seq.EnsureAtEnd();

        var (name, length) = oid switch
        {
            CmsOids.Sha256 => (HashAlgorithmName.SHA256, 32),
            CmsOids.Sha384 => (HashAlgorithmName.SHA384, 48),
            CmsOids.Sha512 => (HashAlgorithmName.SHA512, 64),
            _ => throw new RequestRefusedException(PkiFailureInfo.BadAlg,
                $"hash algorithm {oid} is not accepted (SHA-256, SHA-384, SHA-512 are)"),
        };

        if (digest.Length != length)
        {
            throw new RequestRefusedException(PkiFailureInfo.BadDataFormat,
                $"{name} digest must be {length} bytes, got {digest.Length}");
        }

        return name;
    }

    /// <summary>No request extension is understood, so every critical one is refused and the rest ignored.</summary>
    private static void CheckExtensions(AsnReader extensions)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        while (extensions.HasData)
        {
            var ext = extensions.ReadSequence();
            var id = ext.ReadObjectIdentifier();
            var critical = ext.PeekTag().HasSameClassAndValue(Asn1Tag.Boolean) && ext.ReadBoolean();
            ext.ReadOctetString();
            ext.EnsureAtEnd();
            if (!seen.Add(id))
            {
                throw new RequestRefusedException(PkiFailureInfo.BadDataFormat, $"extension {id} appears twice");
            }

            if (critical)
            {
                throw new RequestRefusedException(PkiFailureInfo.UnacceptedExtension,
                    $"critical extension {id} is not supported");
            }
        }
    }

    private static (string Oid, int Length)? DigestInfo(HashAlgorithmName name) =>
        name == HashAlgorithmName.SHA256 ? (CmsOids.Sha256, 32)
        : name == HashAlgorithmName.SHA384 ? (CmsOids.Sha384, 48)
        : name == HashAlgorithmName.SHA512 ? (CmsOids.Sha512, 64)
        : null;
}
