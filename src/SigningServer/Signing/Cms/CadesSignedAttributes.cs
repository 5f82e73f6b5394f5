using System.Security.Cryptography;
using DTrust.Cms;

namespace DTrust.SigningServer.Signing;

/// <summary>
/// The outcome of <see cref="CadesBuilder.Prepare"/>: the DER SignedAttributes (a SET OF, tag 0x31, exactly the
/// bytes the signature covers) and their digest, which the HSM signs.
/// </summary>
public sealed class CadesSignedAttributes
{
    internal CadesSignedAttributes(CadesBuilder builder, CmsAttributeProfile profile, HashAlgorithmName hash, byte[] der, byte[] digestToSign)
    {
        Builder = builder;
        Profile = profile;
        Hash = hash;
        Der = der;
        DigestToSign = digestToSign;
    }

    /// <summary>Document hash algorithm, also the digest algorithm of the signature.</summary>
    public HashAlgorithmName Hash { get; }

    /// <summary>CAdES or PAdES: which attributes <see cref="Der"/> holds.</summary>
    public CmsAttributeProfile Profile { get; }

    /// <summary>DER of the SignedAttributes SET OF.</summary>
    public ReadOnlyMemory<byte> Der { get; }

    /// <summary>The <see cref="Hash"/> digest of <see cref="Der"/>: the input of the HSM's sign operation.</summary>
    public ReadOnlyMemory<byte> DigestToSign { get; }

    /// <summary>The builder, hence the certificate, whose signing-certificate-v2 the attributes carry.</summary>
    internal CadesBuilder Builder { get; }
}
