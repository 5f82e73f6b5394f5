using System.Security.Cryptography;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault.Internal;

/// <summary>
/// An <see cref="RSA"/> whose private operation is CKM_RSA_PKCS (over DigestInfo) or CKM_RSA_PKCS_PSS (MGF1 with the
/// same hash, salt as long as the hash) on a token key. Decryption is not offered: CA and TSA keys only sign.
/// </summary>
internal sealed class HsmRsa : RSA
{
    private readonly HsmSigningKey _key;
    private readonly RSA _public;

    public HsmRsa(HsmSigningKey key)
    {
        _key = key;
        _public = (RSA)Algorithms.ImportPublic(key.Algorithm, key.SubjectPublicKeyInfo);
        KeySizeValue = Algorithms.KeySizeBits(key.Algorithm);
        LegalKeySizesValue = [new KeySizes(KeySizeValue, KeySizeValue, 0)];
    }

    public override byte[] SignHash(byte[] hash, HashAlgorithmName hashAlgorithm, RSASignaturePadding padding)
    {
        ArgumentNullException.ThrowIfNull(hash);
        ArgumentNullException.ThrowIfNull(padding);
        if (hash.Length != Schemes.HashLength(hashAlgorithm))
        {
            // SoftHSM reports a wrong length only as CKR_GENERAL_ERROR at C_Sign, so check here.
            throw new CryptographicException($"a {hashAlgorithm.Name} digest has {Schemes.HashLength(hashAlgorithm)} bytes, not {hash.Length}");
        }

        if (padding == RSASignaturePadding.Pkcs1)
        {
            return _key.SignRaw(new Mechanism(CK.CKM_RSA_PKCS), Schemes.DigestInfo(hashAlgorithm, hash));
        }

        if (padding == RSASignaturePadding.Pss)
        {
            return _key.SignRaw(Schemes.PssMechanism(hashAlgorithm), hash);
        }

        throw new CryptographicException($"padding {padding} is not supported by HSM keys");
    }

    public override bool VerifyHash(byte[] hash, byte[] signature, HashAlgorithmName hashAlgorithm, RSASignaturePadding padding) =>
        _public.VerifyHash(hash, signature, hashAlgorithm, padding);

    public override RSAParameters ExportParameters(bool includePrivateParameters) => includePrivateParameters
        ? throw new CryptographicException("the private key stays in the HSM")
        : _public.ExportParameters(false);

    public override void ImportParameters(RSAParameters parameters) =>
        throw new NotSupportedException("an HSM key cannot be replaced");

    protected override byte[] HashData(byte[] data, int offset, int count, HashAlgorithmName hashAlgorithm) =>
        CryptographicOperations.HashData(hashAlgorithm, data.AsSpan(offset, count));

    protected override byte[] HashData(Stream data, HashAlgorithmName hashAlgorithm) =>
        CryptographicOperations.HashData(hashAlgorithm, data);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _public.Dispose();
        }

        base.Dispose(disposing);
    }
}
