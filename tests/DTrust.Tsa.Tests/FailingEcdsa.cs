using System.Security.Cryptography;

namespace DTrust.Tsa.Tests;

/// <summary>An ECDsa subclass, like an HSM-backed key, whose SignHash can be made to fail (device removed).</summary>
internal sealed class FailingEcdsa(ECDsa inner) : ECDsa
{
    public bool Fail { get; set; }

    public int Signatures { get; private set; }

    public override int KeySize
    {
        get => inner.KeySize;
        set => throw new NotSupportedException();
    }

    public override byte[] SignHash(byte[] hash)
    {
        if (Fail)
        {
            throw new CryptographicException("CKR_DEVICE_REMOVED from C_Sign");
        }

        Signatures++;
        return inner.SignHash(hash);
    }

    public override bool VerifyHash(byte[] hash, byte[] signature) => inner.VerifyHash(hash, signature);

    public override ECParameters ExportParameters(bool includePrivateParameters) =>
        includePrivateParameters ? throw new CryptographicException("key is not exportable") : inner.ExportParameters(false);

    public override void ImportParameters(ECParameters parameters) => throw new NotSupportedException();

    public override void GenerateKey(ECCurve curve) => throw new NotSupportedException();
}
