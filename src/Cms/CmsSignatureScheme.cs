namespace DTrust.Cms;

/// <summary>
/// How the key signed the digest of the signed attributes. The hash is not part of the scheme: it is always the
/// digest algorithm of the SignerInfo, so a mismatched pair cannot be expressed.
/// </summary>
public enum CmsSignatureScheme
{
    /// <summary>ECDSA; the value is the DER Ecdsa-Sig-Value (ecdsa-with-SHA256/384/512).</summary>
    Ecdsa,

    /// <summary>RSASSA-PKCS1-v1_5 (sha256/384/512WithRSAEncryption).</summary>
    RsaPkcs1,

    /// <summary>RSASSA-PSS with MGF1 over the same hash and a salt as long as the hash (id-RSASSA-PSS).</summary>
    RsaPss,
}
