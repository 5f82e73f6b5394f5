using System.Security.Cryptography;

namespace DTrust.KeyVault;

/// <summary>
/// A long-lived signing key of a domain (CA, OCSP, TSA, root) that never leaves it. .NET's answer to Go's
/// <c>crypto.Signer</c> is <see cref="CreateAlgorithm"/>: an <see cref="ECDsa"/> or <see cref="RSA"/> whose signing
/// calls the backend, so CmsSigner, CertificateRequest and CertificateRevocationListBuilder work unchanged.
/// </summary>
public interface ISigningKey
{
    string Label { get; }

    /// <summary>The name of the key domain that holds the key.</summary>
    string Domain { get; }

    KeyAlgorithm Algorithm { get; }

    /// <summary>DER SubjectPublicKeyInfo (a copy).</summary>
    byte[] SubjectPublicKeyInfo { get; }

    /// <summary>An <see cref="ECDsa"/> or <see cref="RSA"/> that signs with this key; a new instance per call, to dispose.</summary>
    AsymmetricAlgorithm CreateAlgorithm();

    /// <summary>Signs one digest with a scheme; a digest or scheme that does not fit the key is InvalidInput.</summary>
    byte[] SignDigest(ReadOnlySpan<byte> digest, SignatureScheme scheme);

    /// <summary>As <see cref="SignDigest"/>, waiting for the backend without blocking a thread.</summary>
    ValueTask<byte[]> SignDigestAsync(ReadOnlyMemory<byte> digest, SignatureScheme scheme, CancellationToken ct);
}
