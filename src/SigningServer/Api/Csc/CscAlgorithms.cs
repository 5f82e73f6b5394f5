using System.Formats.Asn1;
using System.Security.Cryptography;
using DTrust.KeyVault;

namespace DTrust.SigningServer.Api.Csc;

/// <summary>How CSC names a signature: the key family, the padding, the digest it implies (if any).</summary>
internal sealed record CscSignAlgorithm(bool Ec, bool RsaPkcs1, HashAlgorithmName? Hash);

/// <summary>
/// The object identifiers CSC speaks (hash, signature and key algorithms, curves) mapped to ours. Mapping only: which
/// scheme a key may use is <see cref="Policy.SigningPolicy"/>'s, this only reads the names.
/// </summary>
internal static class CscAlgorithms
{
    public const string Sha256 = "2.16.840.1.101.3.4.2.1";
    public const string Sha384 = "2.16.840.1.101.3.4.2.2";
    public const string Sha512 = "2.16.840.1.101.3.4.2.3";
    public const string RsaEncryption = "1.2.840.113549.1.1.1";
    public const string RsaPss = "1.2.840.113549.1.1.10";
    public const string Sha256WithRsa = "1.2.840.113549.1.1.11";
    public const string Sha384WithRsa = "1.2.840.113549.1.1.12";
    public const string Sha512WithRsa = "1.2.840.113549.1.1.13";
    public const string EcPublicKey = "1.2.840.10045.2.1";
    public const string EcdsaSha256 = "1.2.840.10045.4.3.2";
    public const string EcdsaSha384 = "1.2.840.10045.4.3.3";
    public const string EcdsaSha512 = "1.2.840.10045.4.3.4";
    private const string Mgf1 = "1.2.840.113549.1.1.8";

    /// <summary>Every signature algorithm the service signs with, for <c>info</c>.</summary>
    public static readonly string[] SignAlgorithms =
        [Sha256WithRsa, Sha384WithRsa, Sha512WithRsa, RsaPss, RsaEncryption, EcdsaSha256, EcdsaSha384, EcdsaSha512, EcPublicKey];

    public static HashAlgorithmName? Hash(string? oid) => oid switch
    {
        Sha256 => HashAlgorithmName.SHA256,
        Sha384 => HashAlgorithmName.SHA384,
        Sha512 => HashAlgorithmName.SHA512,
        _ => null,
    };

    public static string HashOid(HashAlgorithmName hash) =>
        hash == HashAlgorithmName.SHA384 ? Sha384 : hash == HashAlgorithmName.SHA512 ? Sha512 : Sha256;

    /// <summary>The digest a bare hash value of this length is, for v1 requests that name no algorithm.</summary>
    public static HashAlgorithmName? HashByLength(int length) => length switch
    {
        32 => HashAlgorithmName.SHA256,
        48 => HashAlgorithmName.SHA384,
        64 => HashAlgorithmName.SHA512,
        _ => null,
    };

    public static CscSignAlgorithm? SignAlgorithm(string? oid) => oid switch
    {
        RsaEncryption => new(false, true, null),
        Sha256WithRsa => new(false, true, HashAlgorithmName.SHA256),
        Sha384WithRsa => new(false, true, HashAlgorithmName.SHA384),
        Sha512WithRsa => new(false, true, HashAlgorithmName.SHA512),
        RsaPss => new(false, false, null),
        EcPublicKey => new(true, false, null),
        EcdsaSha256 => new(true, false, HashAlgorithmName.SHA256),
        EcdsaSha384 => new(true, false, HashAlgorithmName.SHA384),
        EcdsaSha512 => new(true, false, HashAlgorithmName.SHA512),
        _ => null,
    };

    /// <summary><c>key/algo</c> of credentials/info: the key's own OID and the signature algorithms it signs with.</summary>
    public static string[] KeyAlgorithms(KeyAlgorithm key) => Policy.SigningPolicy.IsEc(key)
        ? [EcPublicKey, EcdsaSha256, EcdsaSha384, EcdsaSha512]
        : [RsaEncryption, Sha256WithRsa, Sha384WithRsa, Sha512WithRsa, RsaPss];

    public static int KeyLength(KeyAlgorithm key) => key switch
    {
        KeyAlgorithm.EcP256 => 256,
        KeyAlgorithm.EcP384 => 384,
        KeyAlgorithm.Rsa2048 => 2048,
        KeyAlgorithm.Rsa3072 => 3072,
        _ => 4096,
    };

    public static string? Curve(KeyAlgorithm key) => key switch
    {
        KeyAlgorithm.EcP256 => "1.2.840.10045.3.1.7",
        KeyAlgorithm.EcP384 => "1.3.132.0.34",
        _ => null,
    };

    /// <summary>
    /// Why base64 DER RSASSA-PSS-params (RFC 4055) are not the ones we sign with, or null: the digest named, MGF1 with
    /// the same digest, a salt as long as the digest, trailer field 1. Absent fields take RFC 4055's defaults (SHA-1),
    /// which we never use, so each must be present.
    /// </summary>
    public static string? PssParamsProblem(string? base64, HashAlgorithmName hash)
    {
        if (string.IsNullOrEmpty(base64))
        {
            return "signAlgoParams are required with RSASSA-PSS";
        }

        try
        {
            var reader = new AsnReader(Convert.FromBase64String(base64), AsnEncodingRules.DER);
            var seq = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            string? digest = null, mgfDigest = null;
            var salt = -1;
            if (seq.HasData && seq.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 0)))
            {
                var h = seq.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0)).ReadSequence();
                digest = h.ReadObjectIdentifier();
            }

            if (seq.HasData && seq.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 1)))
            {
                var m = seq.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 1)).ReadSequence();
                if (m.ReadObjectIdentifier() != Mgf1)
                {
                    return "signAlgoParams: only MGF1 is supported";
                }

                mgfDigest = m.ReadSequence().ReadObjectIdentifier();
            }

            if (seq.HasData && seq.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 2)))
            {
                var s = seq.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 2));
                salt = s.TryReadInt32(out var v) ? v : -1;
            }

            if (seq.HasData && seq.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.ContextSpecific, 3)))
            {
                var t = seq.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 3));
                if (!t.TryReadInt32(out var trailer) || trailer != 1)
                {
                    return "signAlgoParams: the trailer field must be 1";
                }
            }

            var oid = HashOid(hash);
            var length = hash == HashAlgorithmName.SHA384 ? 48 : hash == HashAlgorithmName.SHA512 ? 64 : 32;
            return digest != oid || mgfDigest != oid
                ? "signAlgoParams: the digest and MGF1's digest must be the hash algorithm of the request"
                : salt != length
                ? $"signAlgoParams: the salt length must be {length}, the digest's"
                : null;
        }
        catch (Exception e) when (e is FormatException or AsnContentException or CryptographicException)
        {
            return "signAlgoParams are not base64 DER RSASSA-PSS-params";
        }
    }
}
