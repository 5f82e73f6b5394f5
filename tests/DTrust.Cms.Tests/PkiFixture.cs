using System.Security.Cryptography;
using DTrust.Cms;
using DTrust.SigningServer.Signing;

namespace DTrust.Cms.Tests;

/// <summary>One test PKI per run: RSA-3072 key generation is too slow to repeat per test.</summary>
public sealed class PkiFixture : IDisposable
{
    internal TestPki Pki { get; } = TestPki.Create();

    public void Dispose() => Pki.Dispose();
}

[CollectionDefinition(Name)]
public sealed class SharedPki : ICollectionFixture<PkiFixture>
{
    public const string Name = "CMS test PKI";
}

/// <summary>One signature made the way the signing flow makes it: prepare, HSM signs the digest, complete.</summary>
internal sealed record CmsSample(byte[] Content, byte[] Cms, byte[] SignatureValue, byte[] TimestampToken)
{
    public static CmsSample Create(TestPki pki, TestSigner signer, CmsAttributeProfile profile, bool timestamp = false,
        DateTimeOffset? signingTime = null)
    {
        var content = RandomNumberGenerator.GetBytes(1000 + RandomNumberGenerator.GetInt32(1000));
        var builder = new CadesBuilder(signer.Certificate, [pki.IssuingCa, pki.Root]);
        var attributes = builder.Prepare(signer.Hash, CryptographicOperations.HashData(signer.Hash, content), profile,
            signingTime ?? DateTimeOffset.UtcNow);
        var signature = signer.SignDigest(attributes.DigestToSign.Span);
        byte[] token = [];
        if (timestamp)
        {
            var result = pki.Tsa().Timestamp(HashAlgorithmName.SHA256,
                CadesBuilder.SignatureTimeStampImprint(HashAlgorithmName.SHA256, signature));
            Assert.True(result.IsGranted, result.StatusText);
            token = result.Token.ToArray();
        }

        return new CmsSample(content, builder.Complete(attributes, signer.Scheme, signature, token), signature, token);
    }

    /// <summary>Writes content and signature into the PKI directory for the external verifiers.</summary>
    public (string Data, string P7s) Write(TestPki pki, string name)
    {
        var data = pki.File(name + ".bin");
        var p7s = pki.File(name + ".p7s");
        File.WriteAllBytes(data, Content);
        File.WriteAllBytes(p7s, Cms);
        return (data, p7s);
    }
}
