using System.Security.Cryptography;
using DTrust.KeyVault.Interop;
using DTrust.Testing;
using Xunit;

namespace DTrust.KeyVault.Tests;

/// <summary>What the tokens hold after use, and that every key is locked down to its one purpose.</summary>
public sealed class TokenObjectTests
{
    [Fact]
    public async Task After_creating_and_signing_the_tokens_hold_no_credential_private_key()
    {
        foreach (var name in TestVault.DomainNames)
        {
            var domain = TestVault.Shared.Domain(name);
            foreach (var alg in new[] { KeyAlgorithm.EcP256, KeyAlgorithm.Rsa2048 })
            {
                var key = await domain.CreateCredentialKeyAsync(alg, TestVault.CredentialPin, CancellationToken.None);
                var scheme = alg == KeyAlgorithm.EcP256 ? SignatureScheme.EcdsaSha256Der : SignatureScheme.RsaPssSha256;
                await domain.SignBatchAsync(key, TestVault.CredentialPin, TestVault.Digests(HashAlgorithmName.SHA256, 3), scheme, CancellationToken.None);
                var rewrapped = await domain.RewrapAsync(key, TestVault.CredentialPin, "other"u8.ToArray(), CancellationToken.None);
                await Assert.ThrowsAsync<KeyVaultException>(() => domain.SignBatchAsync(
                    rewrapped, TestVault.CredentialPin, TestVault.Digests(HashAlgorithmName.SHA256, 1), scheme, CancellationToken.None));
            }
        }

        foreach (var name in TestVault.DomainNames)
        {
            var objects = await ListObjects(name);
            var privateKeys = objects.Where(o => o.Header.StartsWith("Private Key Object", StringComparison.Ordinal)).ToList();
            var secretKeys = objects.Where(o => o.Header.StartsWith("Secret Key Object", StringComparison.Ordinal)).ToList();

            // Exactly the domain's CA/TSA key, sensitive and never extractable.
            var ca = Assert.Single(privateKeys);
            Assert.Equal(TestVault.SigningKeys[name].Label, ca.Get("label"));
            Assert.Contains("sensitive", ca.Get("Access"), StringComparison.Ordinal);
            Assert.Contains("never extractable", ca.Get("Access"), StringComparison.Ordinal);
            Assert.Equal("sign", ca.Get("Usage"));

            // Exactly the master key, usable for derivation only.
            var master = Assert.Single(secretKeys);
            Assert.Equal("dtrust-master", master.Get("label"));
            Assert.Contains("never extractable", master.Get("Access"), StringComparison.Ordinal);
            Assert.Equal("derive", master.Get("Usage"));
        }
    }

    [Theory]
    [InlineData("simple")]
    [InlineData("qualified")]
    [InlineData("tsa")]
    public void Master_and_signing_keys_are_sensitive_and_not_extractable(string name)
    {
        var domain = TestVault.Shared.Domain(name);
        var signing = domain.GetSigningKey(TestVault.SigningKeys[name].Label);
        TestVault.WithSession(domain, (p11, s) =>
        {
            foreach (var handle in new[] { domain.MasterKey(s), signing.Handle })
            {
                Assert.Equal([1], p11.GetAttributeValue(s, handle, CK.CKA_SENSITIVE));
                Assert.Equal([0], p11.GetAttributeValue(s, handle, CK.CKA_EXTRACTABLE));
                Assert.Equal([1], p11.GetAttributeValue(s, handle, CK.CKA_NEVER_EXTRACTABLE));
                Assert.Equal([1], p11.GetAttributeValue(s, handle, CK.CKA_TOKEN));
            }

            return 0;
        });
    }

    [Fact]
    public void The_master_key_may_only_derive_and_a_kek_may_only_wrap_and_unwrap()
    {
        var domain = TestVault.Shared.Domain("simple");
        var ecb = new Mechanism(CK.CKM_AES_ECB);
        TestVault.WithSession(domain, (p11, s) =>
        {
            var master = domain.MasterKey(s);
            Assert.Equal(CK.CKR_KEY_FUNCTION_NOT_PERMITTED, Assert.Throws<Pkcs11Exception>(() => p11.EncryptInit(s, ecb, master)).ReturnValue);
            Assert.Equal(CK.CKR_KEY_FUNCTION_NOT_PERMITTED, Assert.Throws<Pkcs11Exception>(() => p11.DecryptInit(s, ecb, master)).ReturnValue);

            var victim = p11.GenerateKey(s, new Mechanism(CK.CKM_AES_KEY_GEN),
            [
                Attr.ULong(CK.CKA_VALUE_LEN, 32), Attr.Bool(CK.CKA_TOKEN, false), Attr.Bool(CK.CKA_EXTRACTABLE, true),
            ]);
            var kek = domain.DeriveKek(s, RandomNumberGenerator.GetBytes(32), "1234"u8);
            try
            {
                Assert.Equal(
                    CK.CKR_KEY_FUNCTION_NOT_PERMITTED,
                    Assert.Throws<Pkcs11Exception>(() => p11.WrapKey(s, new Mechanism(CK.CKM_AES_KEY_WRAP_PAD), master, victim)).ReturnValue);
                Assert.Equal(CK.CKR_KEY_FUNCTION_NOT_PERMITTED, Assert.Throws<Pkcs11Exception>(() => p11.DecryptInit(s, ecb, kek)).ReturnValue);
                Assert.Equal(CK.CKR_KEY_FUNCTION_NOT_PERMITTED, Assert.Throws<Pkcs11Exception>(() => p11.EncryptInit(s, ecb, kek)).ReturnValue);

                // The check can say yes: the KEK does wrap.
                Assert.NotEmpty(p11.WrapKey(s, new Mechanism(CK.CKM_AES_KEY_WRAP_PAD), kek, victim));
                Assert.Equal([0], p11.GetAttributeValue(s, kek, CK.CKA_EXTRACTABLE));
                Assert.Equal([1], p11.GetAttributeValue(s, kek, CK.CKA_SENSITIVE));
            }
            finally
            {
                p11.DestroyObject(s, kek);
                p11.DestroyObject(s, victim);
            }

            return 0;
        });
    }

    [Fact]
    public void Set_up_is_idempotent_and_missing_keys_are_clear_errors()
    {
        var domain = TestVault.Shared.Domain("advanced");
        domain.EnsureMasterKey();
        domain.EnsureMasterKey();
        var (label, alg) = TestVault.SigningKeys["advanced"];
        var first = domain.GetOrCreateSigningKey(label, alg);
        Assert.Equal(first.SubjectPublicKeyInfo, domain.GetOrCreateSigningKey(label, alg).SubjectPublicKeyInfo);

        var wrongAlg = Assert.Throws<KeyVaultException>(() => domain.GetOrCreateSigningKey(label, KeyAlgorithm.Rsa2048));
        Assert.Equal(KeyVaultErrorKind.Configuration, wrongAlg.Kind);
        var missing = Assert.Throws<KeyVaultException>(() => domain.GetSigningKey("no-such-key"));
        Assert.Equal(KeyVaultErrorKind.KeyNotFound, missing.Kind);
    }

    [Fact]
    public async Task Imported_master_and_signing_keys_are_refused_at_start_up()
    {
        // An operator provisions the root token by hand with keys made outside the HSM: an AES key as the master
        // key, and an EC key pair as a CA key. Neither is CKA_LOCAL nor never-extractable, so a copy may exist.
        _ = TestVault.Shared;
        var dir = Directory.CreateTempSubdirectory("dtrust-import-").FullName;
        try
        {
            await File.WriteAllBytesAsync(Path.Combine(dir, "aes.key"), RandomNumberGenerator.GetBytes(32));
            using (var ec = ECDsa.Create(ECCurve.NamedCurves.nistP256))
            {
                await File.WriteAllBytesAsync(Path.Combine(dir, "ca.der"), ec.ExportPkcs8PrivateKey());
                await File.WriteAllBytesAsync(Path.Combine(dir, "ca.pub"), ec.ExportSubjectPublicKeyInfo());
            }

            await Pkcs11Tool("root", "--write-object", Path.Combine(dir, "aes.key"), "--type", "secrkey", "--key-type", "AES:32", "--label", "dtrust-master", "--usage-derive");
            await Pkcs11Tool("root", "--write-object", Path.Combine(dir, "ca.der"), "--type", "privkey", "--label", "imported-ca", "--usage-sign");
            await Pkcs11Tool("root", "--write-object", Path.Combine(dir, "ca.pub"), "--type", "pubkey", "--label", "imported-ca");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        using var vault = HsmVault.Open(TestVault.Options(TestVault.DomainOptions("root", "root", 1)));
        var domain = vault.Domain("root");

        var master = Assert.Throws<KeyVaultException>(domain.EnsureMasterKey);
        Assert.Equal(KeyVaultErrorKind.Configuration, master.Kind);
        Assert.Contains("master key", master.Message, StringComparison.Ordinal);
        Assert.Contains("CKA_LOCAL false", master.Message, StringComparison.Ordinal);

        // Every path that would use the master key refuses it too, so nothing is ever wrapped under it.
        var credential = await Assert.ThrowsAsync<KeyVaultException>(
            () => domain.CreateCredentialKeyAsync(KeyAlgorithm.EcP256, TestVault.CredentialPin, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.Configuration, credential.Kind);

        var ca = Assert.Throws<KeyVaultException>(() => domain.GetSigningKey("imported-ca"));
        Assert.Equal(KeyVaultErrorKind.Configuration, ca.Kind);
        Assert.Contains("signing key 'imported-ca'", ca.Message, StringComparison.Ordinal);
        Assert.Matches("CKA_(ALWAYS_SENSITIVE|NEVER_EXTRACTABLE) false", ca.Message);
        Assert.Equal(KeyVaultErrorKind.Configuration, Assert.Throws<KeyVaultException>(
            () => domain.GetOrCreateSigningKey("imported-ca", KeyAlgorithm.EcP256)).Kind);
    }

    [Fact]
    public void A_generated_key_pair_passes_the_checks_and_is_found_again()
    {
        // The other side of the check above: keys the vault generates are accepted when found later.
        var domain = TestVault.Shared.Domain("tsa");
        using var other = TestVault.Open(null, null, TestVault.DomainOptions("tsa", "tsa", 1));
        var found = other.Domain("tsa").GetSigningKey(TestVault.SigningKeys["tsa"].Label);
        Assert.Equal(domain.GetSigningKey(TestVault.SigningKeys["tsa"].Label).SubjectPublicKeyInfo, found.SubjectPublicKeyInfo);
        other.Domain("tsa").EnsureMasterKey();
    }

    /// <summary>pkcs11-tool logged in to <paramref name="token"/>; the PIN goes through the environment, not argv.</summary>
    private static async Task<ProcessRunner.Result> Pkcs11Tool(string token, params string[] args)
    {
        var hsm = TestVault.Hsm;
        var env = hsm.Env;
        env["DTRUST_TEST_TOKEN_PIN"] = hsm.Pin(token);
        var result = await ProcessRunner.RunAsync(
            "pkcs11-tool",
            ["--module", SoftHsmEnvironment.ModulePath, "--token-label", token, "--login", "--pin", "env:DTRUST_TEST_TOKEN_PIN", .. args],
            env);
        return result.EnsureSuccess("pkcs11-tool " + string.Join(' ', args));
    }

    private static async Task<List<P11Object>> ListObjects(string token)
    {
        var result = await Pkcs11Tool(token, "--list-objects");
        var objects = new List<P11Object>();
        foreach (var line in result.StdOut.Split('\n'))
        {
            if (line.Length > 0 && !char.IsWhiteSpace(line[0]))
            {
                objects.Add(new P11Object(line.Trim(), []));
            }
            else if (objects.Count > 0 && line.Contains(':', StringComparison.Ordinal))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                objects[^1].Fields[line[..colon].Trim()] = line[(colon + 1)..].Trim();
            }
        }

        Assert.NotEmpty(objects);
        return objects;
    }

    private sealed record P11Object(string Header, Dictionary<string, string> Fields)
    {
        public string Get(string field) => Fields.TryGetValue(field, out var v) ? v : "";
    }
}
