using System.Security.Cryptography;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault.Internal;

/// <summary>
/// An <see cref="ECDsa"/> whose private operation is CKM_ECDSA on a token key. SignHash returns IEEE P1363 r‖s, which
/// is what SoftHSM produces and what .NET expects; the framework converts to DER where CMS or X.509 need it.
/// Verification and public export use a software copy of the public key.
/// </summary>
internal sealed class HsmEcdsa : ECDsa
{
    private readonly HsmSigningKey _key;
    private readonly ECDsa _public;

    public HsmEcdsa(HsmSigningKey key)
    {
        _key = key;
        _public = (ECDsa)Algorithms.ImportPublic(key.Algorithm, key.SubjectPublicKeyInfo);
        KeySizeValue = Algorithms.KeySizeBits(key.Algorithm);
        LegalKeySizesValue = [new KeySizes(KeySizeValue, KeySizeValue, 0)];
    }

    public override byte[] SignHash(byte[] hash)
    {
        ArgumentNullException.ThrowIfNull(hash);
        return _key.SignRaw(new Mechanism(CK.CKM_ECDSA), hash);
    }

    public override bool VerifyHash(byte[] hash, byte[] signature) => _public.VerifyHash(hash, signature);

    public override ECParameters ExportParameters(bool includePrivateParameters) => includePrivateParameters
        ? throw new CryptographicException("the private key stays in the HSM")
        : _public.ExportParameters(false);

    public override ECParameters ExportExplicitParameters(bool includePrivateParameters) => includePrivateParameters
        ? throw new CryptographicException("the private key stays in the HSM")
        : _public.ExportExplicitParameters(false);

    public override void ImportParameters(ECParameters parameters) =>
        throw new NotSupportedException("an HSM key cannot be replaced");

    public override void GenerateKey(ECCurve curve) => throw new NotSupportedException("an HSM key cannot be replaced");

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
