using System.Security.Cryptography;
using System.Text;

namespace DTrust.SigningServer.Callers;

/// <summary>
/// API keys: 256 random bits, shown once, stored only as SHA-256. A plain hash is enough (no salt, no slow KDF)
/// because the key has full entropy: there is nothing to guess offline, and the lookup stays one indexed read.
/// </summary>
public static class ApiKeys
{
    /// <summary>Recognisable in logs and secret scanners, never part of the entropy.</summary>
    public const string Prefix = "dtk_";

    public static string Generate() => Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static byte[] Hash(string apiKey) => SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));

    /// <summary>A TLS client certificate is registered by the SHA-256 of its DER.</summary>
    public static byte[] HashCertificate(ReadOnlySpan<byte> der) => SHA256.HashData(der);

    /// <summary>Opaque random ids for callers and credentials (128 bits, URL-safe).</summary>
    public static string NewId(string kind) => kind + "_" + Base64Url(RandomNumberGenerator.GetBytes(16));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
