namespace DTrust.KeyVault;

/// <summary>Key types the vault generates. Values are persisted with wrapped keys: never renumber.</summary>
public enum KeyAlgorithm
{
    EcP256 = 1,
    EcP384 = 2,
    Rsa2048 = 3,
    Rsa3072 = 4,
    Rsa4096 = 5,
}

/// <summary>
/// How a digest is signed: the signature family, its output encoding and the digest algorithm (whose length every
/// digest must have). Values may be persisted: never renumber.
/// </summary>
public enum SignatureScheme
{
    /// <summary>ECDSA, DER SEQUENCE { r, s } as CMS and RFC 3161 need.</summary>
    EcdsaSha256Der = 1,
    EcdsaSha384Der = 2,
    EcdsaSha512Der = 3,

    /// <summary>ECDSA, IEEE P1363 r‖s as JWS and XAdES need.</summary>
    EcdsaSha256P1363 = 4,
    EcdsaSha384P1363 = 5,
    EcdsaSha512P1363 = 6,

    /// <summary>RSASSA-PKCS1-v1_5 over the DigestInfo of the digest.</summary>
    RsaPkcs1Sha256 = 7,
    RsaPkcs1Sha384 = 8,
    RsaPkcs1Sha512 = 9,

    /// <summary>RSASSA-PSS, MGF1 with the same hash, salt length equal to the hash length.</summary>
    RsaPssSha256 = 10,
    RsaPssSha384 = 11,
    RsaPssSha512 = 12,
}
