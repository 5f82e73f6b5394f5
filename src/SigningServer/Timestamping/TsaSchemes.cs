using System.Security.Cryptography;
using DTrust.KeyVault;
using DTrust.Tsa;

namespace DTrust.SigningServer.Timestamping;

/// <summary>The vault scheme that produces the signature encoding the TSA library expects for its key and options.</summary>
internal static class TsaSchemes
{
    public static SignatureScheme For(KeyAlgorithm key, TsaOptions options)
    {
        var hash = options.SignatureHash.Name;
        var ec = key is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384;
        var pkcs1 = options.RsaPadding == RSASignaturePadding.Pkcs1;
        return (ec, pkcs1, hash) switch
        {
            (true, _, "SHA384") => SignatureScheme.EcdsaSha384Der,
            (true, _, "SHA512") => SignatureScheme.EcdsaSha512Der,
            (true, _, _) => SignatureScheme.EcdsaSha256Der,
            (false, true, "SHA384") => SignatureScheme.RsaPkcs1Sha384,
            (false, true, "SHA512") => SignatureScheme.RsaPkcs1Sha512,
            (false, true, _) => SignatureScheme.RsaPkcs1Sha256,
            (false, false, "SHA384") => SignatureScheme.RsaPssSha384,
            (false, false, "SHA512") => SignatureScheme.RsaPssSha512,
            (false, false, _) => SignatureScheme.RsaPssSha256,
        };
    }
}
