using System.Security.Cryptography;
using DTrust.KeyVault;
using DTrust.SigningServer.Policy;
using DTrust.Tsa;

namespace DTrust.SigningServer.Timestamping;

/// <summary>The vault scheme that produces the signature encoding the TSA library expects for its key and options.</summary>
internal static class TsaSchemes
{
    /// <summary>Tokens carry DER ECDSA signatures; RSA keys sign with PSS unless the options ask for PKCS#1 v1.5.</summary>
    public static SignatureScheme For(KeyAlgorithm key, TsaOptions options) =>
        SigningPolicy.Scheme(key, options.SignatureHash, pkcs1: options.RsaPadding == RSASignaturePadding.Pkcs1, p1363: false);
}
