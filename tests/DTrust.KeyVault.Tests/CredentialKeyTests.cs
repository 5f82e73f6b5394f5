using System.Security.Cryptography;
using DTrust.Testing;
using Xunit;

namespace DTrust.KeyVault.Tests;

/// <summary>Credential keys on real SoftHSM2: every algorithm and scheme, verified by .NET and by openssl.</summary>
public sealed class CredentialKeyTests
{
    public static TheoryData<KeyAlgorithm, SignatureScheme> AllCombinations()
    {
        var data = new TheoryData<KeyAlgorithm, SignatureScheme>();
        foreach (var alg in Enum.GetValues<KeyAlgorithm>())
        {
            foreach (var scheme in Enum.GetValues<SignatureScheme>())
            {
                var ecScheme = scheme <= SignatureScheme.EcdsaSha512P1363;
                if (ecScheme == alg is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384)
                {
                    data.Add(alg, scheme);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(AllCombinations))]
    public async Task Every_algorithm_and_scheme_signs_and_verifies_with_dotnet(KeyAlgorithm alg, SignatureScheme scheme)
    {
        var key = await TestVault.Credential("simple", alg);
        var hash = HashOf(scheme);
        var digests = TestVault.Digests(hash, 3);

        var signatures = await TestVault.Shared.Domain("simple")
            .SignBatchAsync(key, TestVault.CredentialPin, digests, scheme, CancellationToken.None);

        Assert.Equal(3, signatures.Count);
        for (var i = 0; i < digests.Length; i++)
        {
            Assert.True(Verify(key, digests[i].ToArray(), signatures[i], scheme), $"signature {i} does not verify");
        }

        // A signature over another digest must not verify: the check above can fail.
        Assert.False(Verify(key, digests[1].ToArray(), signatures[0], scheme));
    }

    [Theory]
    [InlineData(KeyAlgorithm.EcP256, SignatureScheme.EcdsaSha256Der, "sha256", new string[0])]
    [InlineData(KeyAlgorithm.Rsa2048, SignatureScheme.RsaPssSha256, "sha256", new[] { "rsa_padding_mode:pss", "rsa_pss_saltlen:32", "rsa_mgf1_md:sha256" })]
    [InlineData(KeyAlgorithm.Rsa3072, SignatureScheme.RsaPssSha384, "sha384", new[] { "rsa_padding_mode:pss", "rsa_pss_saltlen:48", "rsa_mgf1_md:sha384" })]
    public async Task Openssl_verifies_with_the_exported_public_key(
        KeyAlgorithm alg, SignatureScheme scheme, string digestName, string[] sigopts)
    {
        var key = await TestVault.Credential("advanced", alg);
        var dir = Directory.CreateTempSubdirectory("dtrust-kv-");
        try
        {
            var data = RandomNumberGenerator.GetBytes(1000);
            var digest = CryptographicOperations.HashData(HashOf(scheme), data);
            var signature = (await TestVault.Shared.Domain("advanced")
                .SignBatchAsync(key, TestVault.CredentialPin, [digest], scheme, CancellationToken.None))[0];
            var paths = (pub: Path.Combine(dir.FullName, "pub.der"), data: Path.Combine(dir.FullName, "data"),
                sig: Path.Combine(dir.FullName, "sig"));
            await File.WriteAllBytesAsync(paths.pub, key.SubjectPublicKeyInfo);
            await File.WriteAllBytesAsync(paths.data, data);
            await File.WriteAllBytesAsync(paths.sig, signature);
            List<string> args = ["dgst", "-" + digestName, "-verify", paths.pub, "-keyform", "DER", "-signature", paths.sig];
            args.AddRange(sigopts.SelectMany(o => new[] { "-sigopt", o }));

            var result = await ProcessRunner.RunAsync("openssl", [.. args, paths.data]);
            Assert.True(result.ExitCode == 0, result.StdErr + result.StdOut);
            Assert.Contains("Verified OK", result.StdOut, StringComparison.Ordinal);

            // The same call over other data fails, so the oracle can say no.
            await File.WriteAllBytesAsync(paths.data, RandomNumberGenerator.GetBytes(1000));
            var wrong = await ProcessRunner.RunAsync("openssl", [.. args, paths.data]);
            Assert.NotEqual(0, wrong.ExitCode);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Wrong_pin_gives_no_signature_and_the_right_pin_still_works()
    {
        var domain = TestVault.Shared.Domain("simple");
        var key = await TestVault.Credential("simple", KeyAlgorithm.EcP256);
        var digests = TestVault.Digests(HashAlgorithmName.SHA256, 2);

        var e = await Assert.ThrowsAsync<KeyVaultException>(() => domain.SignBatchAsync(
            key, "246811"u8.ToArray(), digests, SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongPin, e.Kind);
        Assert.False(e.IsTransient);

        var signatures = await domain.SignBatchAsync(
            key, TestVault.CredentialPin, digests, SignatureScheme.EcdsaSha256Der, CancellationToken.None);
        Assert.True(Verify(key, digests[0].ToArray(), signatures[0], SignatureScheme.EcdsaSha256Der));
    }

    [Fact]
    public async Task Rewrap_moves_the_key_from_the_transport_pin_to_the_activation_pin()
    {
        var domain = TestVault.Shared.Domain("qualified");
        var transport = "transport-1"u8.ToArray();
        var activation = "activation-2"u8.ToArray();
        var original = await domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, transport, CancellationToken.None);

        var rewrapped = await domain.RewrapAsync(original, transport, activation, CancellationToken.None);

        Assert.Equal(original.SubjectPublicKeyInfo, rewrapped.SubjectPublicKeyInfo);
        Assert.NotEqual(original.Salt, rewrapped.Salt);
        var digest = TestVault.Digests(HashAlgorithmName.SHA256, 1);
        var signature = await domain.SignBatchAsync(rewrapped, activation, digest, SignatureScheme.EcdsaSha256P1363, CancellationToken.None);
        Assert.True(Verify(original, digest[0].ToArray(), signature[0], SignatureScheme.EcdsaSha256P1363));

        var wrong = await Assert.ThrowsAsync<KeyVaultException>(
            () => domain.SignBatchAsync(rewrapped, transport, digest, SignatureScheme.EcdsaSha256P1363, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongPin, wrong.Kind);
        var wrongOld = await Assert.ThrowsAsync<KeyVaultException>(
            () => domain.RewrapAsync(original, activation, activation, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongPin, wrongOld.Kind);
    }

    [Fact]
    public async Task A_blob_does_not_open_with_another_pin_a_tampered_blob_or_another_salt()
    {
        var domain = TestVault.Shared.Domain("advanced");
        var key = await domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, "pin-a"u8.ToArray(), CancellationToken.None);
        var other = await domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, "pin-a"u8.ToArray(), CancellationToken.None);
        var digest = TestVault.Digests(HashAlgorithmName.SHA256, 1);
        async Task<KeyVaultException> Fails(WrappedCredentialKey k, byte[] pin) => await Assert.ThrowsAsync<KeyVaultException>(
            () => domain.SignBatchAsync(k, pin, digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));

        Assert.Equal(KeyVaultErrorKind.WrongPin, (await Fails(key, "pin-b"u8.ToArray())).Kind);

        // Damage in storage is caught by the digest, before the HSM, and is not a wrong PIN.
        var tampered = (byte[])key.Blob.Clone();
        tampered[10] ^= 0x01;
        Assert.Equal(KeyVaultErrorKind.CorruptKeyBlob, (await Fails(key with { Blob = tampered }, "pin-a"u8.ToArray())).Kind);
        Assert.Equal(KeyVaultErrorKind.CorruptKeyBlob, (await Fails(key with { Blob = key.Blob[..^8] }, "pin-a"u8.ToArray())).Kind);
        Assert.Equal(KeyVaultErrorKind.CorruptKeyBlob, (await Fails(key with { Salt = other.Salt }, "pin-a"u8.ToArray())).Kind);

        // With the digest recomputed, only the HSM's unwrap check remains, and it refuses too.
        Assert.Equal(KeyVaultErrorKind.WrongPin, (await Fails(Resealed(key with { Blob = tampered }), "pin-a"u8.ToArray())).Kind);
        Assert.Equal(KeyVaultErrorKind.WrongPin, (await Fails(Resealed(key with { Salt = other.Salt }), "pin-a"u8.ToArray())).Kind);

        // A length no AES key-wrap output can have fails whatever the PIN: damage, not a wrong PIN.
        Assert.Equal(KeyVaultErrorKind.CorruptKeyBlob, (await Fails(Resealed(key with { Blob = key.Blob[..^1] }), "pin-a"u8.ToArray())).Kind);
        Assert.Equal(KeyVaultErrorKind.CorruptKeyBlob, (await Fails(Resealed(key with { Blob = key.Blob[..8] }), "pin-a"u8.ToArray())).Kind);

        // The untouched blob still works.
        Assert.Single(await domain.SignBatchAsync(key, "pin-a"u8.ToArray(), digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None));
    }

    [Fact]
    public async Task Digests_of_the_wrong_length_and_unfitting_schemes_are_refused_before_the_hsm()
    {
        var domain = TestVault.Shared.Domain("simple");
        var ec = await TestVault.Credential("simple", KeyAlgorithm.EcP256);
        var rsa = await TestVault.Credential("simple", KeyAlgorithm.Rsa2048);
        var sha384 = TestVault.Digests(HashAlgorithmName.SHA384, 1);

        foreach (var (key, scheme) in new[]
        {
            (ec, SignatureScheme.EcdsaSha256Der), (rsa, SignatureScheme.RsaPssSha256), (rsa, SignatureScheme.RsaPkcs1Sha512),
            (ec, SignatureScheme.RsaPkcs1Sha384), (rsa, SignatureScheme.EcdsaSha384Der),
        })
        {
            var e = await Assert.ThrowsAsync<KeyVaultException>(
                () => domain.SignBatchAsync(key, TestVault.CredentialPin, sha384, scheme, CancellationToken.None));
            Assert.Equal(KeyVaultErrorKind.InvalidInput, e.Kind);
        }

        var empty = await Assert.ThrowsAsync<KeyVaultException>(() => domain.SignBatchAsync(
            ec, ReadOnlyMemory<byte>.Empty, sha384, SignatureScheme.EcdsaSha384Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.InvalidInput, empty.Kind);
    }

    internal static WrappedCredentialKey Resealed(WrappedCredentialKey k) => k with
    {
        BlobDigest = WrappedCredentialKey.ComputeDigest(k.Domain, k.Algorithm, k.SubjectPublicKeyInfo, k.Salt, k.Blob),
    };

    internal static HashAlgorithmName HashOf(SignatureScheme scheme) => scheme.ToString() switch
    {
        var s when s.Contains("Sha256", StringComparison.Ordinal) => HashAlgorithmName.SHA256,
        var s when s.Contains("Sha384", StringComparison.Ordinal) => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    internal static bool Verify(WrappedCredentialKey key, byte[] digest, byte[] signature, SignatureScheme scheme)
    {
        var hash = HashOf(scheme);
        if (key.Algorithm is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384)
        {
            using var ec = ECDsa.Create();
            ec.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
            var format = scheme.ToString().EndsWith("Der", StringComparison.Ordinal)
                ? DSASignatureFormat.Rfc3279DerSequence
                : DSASignatureFormat.IeeeP1363FixedFieldConcatenation;
            return ec.VerifyHash(digest, signature, format);
        }

        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        var padding = scheme.ToString().StartsWith("RsaPss", StringComparison.Ordinal) ? RSASignaturePadding.Pss : RSASignaturePadding.Pkcs1;
        return rsa.VerifyHash(digest, signature, hash, padding);
    }
}
