using System.Security.Cryptography;
using DTrust.KeyVault;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto;

namespace DTrust.Pki.Internal;

/// <summary>
/// BouncyCastle's signature seam over an HSM key: the generator streams the DER it wants signed into a buffer,
/// and the HSM signs its digest. The private key never leaves the token, and BouncyCastle never sees it.
/// </summary>
internal sealed class HsmSignatureFactory(HsmSigningKey key) : ISignatureFactory
{
    private readonly SignatureScheme _scheme = CaSigning.Scheme(key.Algorithm);
    private readonly HashAlgorithmName _hash = CaSigning.Hash(key.Algorithm);

    public object AlgorithmDetails => (CaSigning.IsEc(key.Algorithm), _hash.Name) switch
    {
        // RFC 5758 §3.2: ECDSA identifiers carry no parameters; RFC 4055 §5: RSA ones carry NULL.
        (true, "SHA256") => new AlgorithmIdentifier(X9ObjectIdentifiers.ECDsaWithSha256),
        (true, "SHA384") => new AlgorithmIdentifier(X9ObjectIdentifiers.ECDsaWithSha384),
        (true, _) => new AlgorithmIdentifier(X9ObjectIdentifiers.ECDsaWithSha512),
        (false, "SHA256") => new AlgorithmIdentifier(PkcsObjectIdentifiers.Sha256WithRsaEncryption, DerNull.Instance),
        (false, "SHA384") => new AlgorithmIdentifier(PkcsObjectIdentifiers.Sha384WithRsaEncryption, DerNull.Instance),
        _ => new AlgorithmIdentifier(PkcsObjectIdentifiers.Sha512WithRsaEncryption, DerNull.Instance),
    };

    public IStreamCalculator<IBlockResult> CreateCalculator() => new Calculator(key, _scheme, _hash);

    /// <summary>Signs <paramref name="data"/> waiting for a pool session asynchronously (see <see cref="HsmSigningKey.SignDigestAsync"/>).</summary>
    public async Task<byte[]> SignAsync(byte[] data, CancellationToken ct) =>
        await key.SignDigestAsync(CryptographicOperations.HashData(_hash, data), _scheme, ct);

    [System.Diagnostics.CodeAnalysis.SuppressMessage(
        "Reliability",
        "CA1001",
        Justification = "A MemoryStream holds nothing unmanaged; BouncyCastle disposes the Stream it writes, and ToArray works after that.")]
    private sealed class Calculator(HsmSigningKey key, SignatureScheme scheme, HashAlgorithmName hash) : IStreamCalculator<IBlockResult>
    {
        private readonly MemoryStream _data = new();

        public Stream Stream => _data;

        public IBlockResult GetResult()
        {
            var digest = CryptographicOperations.HashData(hash, _data.ToArray());
            return new SimpleBlockResult(key.SignDigest(digest, scheme));
        }
    }
}

/// <summary>
/// Declares the algorithm and signs nothing: BouncyCastle's OCSP generator lays out the response, and the real
/// signature is made asynchronously afterwards over the same ResponseData (it never leaves the process unsigned).
/// </summary>
internal sealed class PlaceholderSignatureFactory(object algorithmDetails) : ISignatureFactory
{
    public object AlgorithmDetails => algorithmDetails;

    public IStreamCalculator<IBlockResult> CreateCalculator() => new Calculator();

    [System.Diagnostics.CodeAnalysis.SuppressMessage(
        "Reliability",
        "CA1001",
        Justification = "A MemoryStream holds nothing unmanaged; BouncyCastle disposes the Stream it writes.")]
    private sealed class Calculator : IStreamCalculator<IBlockResult>
    {
        public Stream Stream { get; } = new MemoryStream();

        public IBlockResult GetResult() => new SimpleBlockResult([0]);
    }
}
