using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Tsa;

namespace DTrust.Benchmarks.Tsa;

/// <summary>A throw-away software root that certifies a TSA public key (software or HSM) for the benchmarks.</summary>
internal static class BenchTsaPki
{
    public static X509Certificate2 IssueTsaCertificate(PublicKey tsaPublicKey)
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var root = new X500DistinguishedName("CN=DTrust Benchmark Root");
        var req = new CertificateRequest(new X500DistinguishedName("CN=DTrust Benchmark TSA"), tsaPublicKey,
            HashAlgorithmName.SHA256);
        TsaCertificateProfile.AddExtensions(req);
        var now = DateTimeOffset.UtcNow;
        return req.Create(root, X509SignatureGenerator.CreateForECDsa(rootKey), now.AddDays(-1), now.AddYears(1),
            RandomNumberGenerator.GetBytes(8));
    }

    /// <summary>A benchmark of failing calls would measure refusals: check one token verifies before timing.</summary>
    public static void EnsureValidToken(TimeStampAuthority tsa, byte[] request, X509Certificate2 cert)
    {
        var result = tsa.Respond(request);
        var check = TimeStampVerifier.Verify(result.Token, SHA256.HashData("benchmark document"u8),
            HashAlgorithmName.SHA256, [cert]);
        if (!check.IsValid)
        {
            throw new InvalidOperationException($"setup issued no valid token: {result.StatusText ?? check.Error}");
        }
    }

    /// <summary>An openssl-style request: SHA-256 imprint, 64-bit nonce, certReq true.</summary>
    public static byte[] Request()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteInteger(1);
            using (w.PushSequence())
            {
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier("2.16.840.1.101.3.4.2.1");
                }

                w.WriteOctetString(SHA256.HashData("benchmark document"u8));
            }

            w.WriteInteger(0x1122334455667788);
            w.WriteBoolean(true);
        }

        return w.Encode();
    }
}
