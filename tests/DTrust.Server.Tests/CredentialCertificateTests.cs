using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Client;
using DTrust.KeyVault;
using DTrust.Signing.V1;
using DTrust.Testing;
using Microsoft.Data.Sqlite;
using static DTrust.Server.Tests.Tools;
using VaultAlgorithm = DTrust.KeyVault.KeyAlgorithm;

namespace DTrust.Server.Tests;

/// <summary>
/// Credential certificates of the running server as outsiders see them: openssl reads the profile, checks the chain,
/// the CRL and the OCSP responder; the store and the HSM tokens show where each key lives.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed class CredentialCertificateTests(ServerFixture fixture) : IDisposable
{
    private static readonly string[] VaultDomains = ["advanced", "qualified"];

    private readonly string _dir = Directory.CreateTempSubdirectory("dtrust-certs-").FullName;

    private DTrustClient Operator() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("operator"));

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Python_cryptography_parses_every_certificate_and_crl_we_issue()
    {
        var server = fixture.Server;
        using var client = Operator();
        var user = await CredentialLifecycleTests.NewHolderAsync(client);
        var files = new List<string>();
        foreach (var (level, algorithm) in new[]
        {
            (Level.Simple, DTrust.Signing.V1.KeyAlgorithm.EcP256), (Level.Advanced, DTrust.Signing.V1.KeyAlgorithm.Rsa2048), (Level.Advanced, DTrust.Signing.V1.KeyAlgorithm.EcP384),
            (Level.Qualified, DTrust.Signing.V1.KeyAlgorithm.EcP256), (Level.Qualified, DTrust.Signing.V1.KeyAlgorithm.Rsa3072),
        })
        {
            var (credential, _) = await CredentialLifecycleTests.EnrolAsync(client, user, level, algorithm, organisation: "Musterfirma GmbH");
            files.Add(await WritePemAsync(_dir, $"{level}-{algorithm}.pem", credential.Certificate));
        }

        // The root, the issuing CAs, their OCSP responders and the TSA (the chain files repeat them).
        var pki = Directory.GetFiles(Path.GetDirectoryName(server.Pki("root.pem"))!, "*.pem")
            .Where(p => !p.EndsWith(".csr.pem", StringComparison.Ordinal) && !Path.GetFileName(p).StartsWith("chain", StringComparison.Ordinal))
            .ToList();
        Assert.Contains(pki, p => p.EndsWith("tsa.pem", StringComparison.Ordinal));
        Assert.Contains(pki, p => p.EndsWith("ocsp-qualified.pem", StringComparison.Ordinal));
        files.AddRange(pki);
        using var http = new HttpClient();
        foreach (var level in new[] { "simple", "advanced", "qualified", "seal-qualified", "seal-advanced" })
        {
            var crl = Path.Combine(_dir, level + ".crl");
            await File.WriteAllBytesAsync(crl, await http.GetByteArrayAsync(new Uri(server.HttpAddress, $"/crl/{level}.crl")));
            files.Add(crl);
        }

        var run = await ProcessRunner.RunAsync(
            "/usr/bin/python3", [Path.Combine(RepoPaths.Root, "tests", "peers", "python", "parse_pki.py"), .. files]);
        Assert.True(run.ExitCode == 0, run.StdOut + run.StdErr);
        Assert.Equal(files.Count, Lines(run.StdOut).Count(l => l.StartsWith("OK ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Openssl_reads_a_qualified_certificate_and_sees_its_revocation_in_crl_and_ocsp()
    {
        var server = fixture.Server;
        using var client = Operator();
        var user = await CredentialLifecycleTests.NewHolderAsync(client);
        var (doomed, doomedTransport) = await CredentialLifecycleTests.EnrolAsync(client, user, Level.Qualified);
        var (kept, keptTransport) = await CredentialLifecycleTests.EnrolAsync(client, user, Level.Qualified);
        await ActivateAsync(client, doomed.CredentialId, doomedTransport);
        await ActivateAsync(client, kept.CredentialId, keptTransport);
        var cert = await WritePemAsync(_dir, "cert.pem", doomed.Certificate);
        var good = await WritePemAsync(_dir, "good.pem", kept.Certificate);
        string root = server.Pki("root.pem"), ca = server.Pki("ca-qualified.pem");

        // The profile as openssl 3.0 prints it.
        var text = Lines((await OpensslAsync("x509", "-in", cert, "-noout", "-text")).EnsureSuccess("x509 -text").StdOut);
        Assert.Contains("Policy: 0.4.0.194112.1.2", text);
        var keyUsage = text.IndexOf("X509v3 Key Usage: critical");
        Assert.True(keyUsage >= 0, "key usage is not critical:\n" + string.Join('\n', text));
        Assert.Equal("Non Repudiation", text[keyUsage + 1]);
        Assert.Contains("qcStatements:", text);

        // openssl has no names for the ETSI statements: asn1parse of the extension's value shows their OIDs.
        var qc = await QcStatementOidsAsync(cert);
        Assert.Equal(["0.4.0.1862.1.1", "0.4.0.1862.1.4", "0.4.0.1862.1.6", "0.4.0.1862.1.6.1"], qc);

        // Five years: still valid five years minus two days from now, no longer five years plus two days from now.
        var fiveYears = DateTime.UtcNow.AddYears(5) - DateTime.UtcNow;
        Assert.Equal(0, (await OpensslAsync("x509", "-in", cert, "-noout", "-checkend", Seconds(fiveYears - TimeSpan.FromDays(2)))).ExitCode);
        Assert.Equal(1, (await OpensslAsync("x509", "-in", cert, "-noout", "-checkend", Seconds(fiveYears + TimeSpan.FromDays(2)))).ExitCode);

        var verify = await OpensslAsync("verify", "-CAfile", root, "-untrusted", ca, cert);
        Assert.True(verify.ExitCode == 0, verify.StdOut + verify.StdErr);
        Assert.Equal($"{cert}: OK", verify.StdOut.Trim());

        await client.Credentials.RevokeCredentialAsync(
            new RevokeCredentialRequest { CredentialId = doomed.CredentialId, Reason = RevocationReason.KeyCompromise });
        Assert.Equal(CredentialStatus.Revoked, await PollStatusAsync(client, doomed.CredentialId, CredentialStatus.Revoked));

        // The CRL over HTTP lists the serial (the publisher may follow the status by a moment).
        var serial = OpensslSerial(X509CertificateLoader.LoadCertificate(doomed.Certificate.Span).SerialNumber);
        var crlDer = Path.Combine(_dir, "crl.der");
        var crlText = "";
        using var http = new HttpClient();
        for (var deadline = DateTime.UtcNow.AddSeconds(30); DateTime.UtcNow < deadline; await Task.Delay(250))
        {
            await File.WriteAllBytesAsync(crlDer, await http.GetByteArrayAsync(new Uri(server.HttpAddress, "/crl/qualified.crl")));
            crlText = (await OpensslAsync("crl", "-inform", "DER", "-in", crlDer, "-noout", "-text")).EnsureSuccess("crl -text").StdOut;
            if (crlText.Contains("Serial Number: " + serial, StringComparison.Ordinal))
            {
                break;
            }
        }

        Assert.Contains("Serial Number: " + serial, crlText, StringComparison.Ordinal);
        Assert.Contains("Key Compromise", crlText, StringComparison.Ordinal);
        var crlPem = Path.Combine(_dir, "crl.pem");
        (await OpensslAsync("crl", "-inform", "DER", "-in", crlDer, "-out", crlPem)).EnsureSuccess("crl to PEM");

        var revoked = await OpensslAsync("verify", "-crl_check", "-CRLfile", crlPem, "-CAfile", root, "-untrusted", ca, cert);
        Assert.NotEqual(0, revoked.ExitCode);
        Assert.Contains("certificate revoked", revoked.StdOut + revoked.StdErr, StringComparison.Ordinal);
        var stillGood = await OpensslAsync("verify", "-crl_check", "-CRLfile", crlPem, "-CAfile", root, "-untrusted", ca, good);
        Assert.True(stillGood.ExitCode == 0, stillGood.StdOut + stillGood.StdErr);

        // OCSP: the responder's certificate (issued by the qualified CA) is the one openssl is told to trust.
        var ocspUrl = new Uri(server.HttpAddress, "/ocsp").ToString();
        foreach (var (file, status) in new[] { (cert, "revoked"), (good, "good") })
        {
            var ocsp = await OpensslAsync(
                "ocsp", "-issuer", ca, "-cert", file, "-url", ocspUrl, "-CAfile", root, "-VAfile", server.Pki("ocsp-qualified.pem"));
            Assert.True(ocsp.ExitCode == 0, ocsp.StdOut + ocsp.StdErr);
            Assert.Contains("Response verify OK", ocsp.StdOut + ocsp.StdErr, StringComparison.Ordinal);
            Assert.Contains($"{file}: {status}", ocsp.StdOut, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Ocsp_answers_revoked_right_after_the_revoke_call_although_good_was_pre_produced()
    {
        var server = fixture.Server;
        using var client = Operator();
        var user = await CredentialLifecycleTests.NewHolderAsync(client);
        var (credential, transport) = await CredentialLifecycleTests.EnrolAsync(client, user, Level.Advanced);
        await ActivateAsync(client, credential.CredentialId, transport);
        var cert = await WritePemAsync(_dir, "cert.pem", credential.Certificate);
        var ocspUrl = new Uri(server.HttpAddress, "/ocsp").ToString();
        string[] ask = ["ocsp", "-issuer", server.Pki("ca-advanced.pem"), "-cert", cert, "-url", ocspUrl, "-CAfile", server.Pki("root.pem"),
            "-VAfile", server.Pki("ocsp-advanced.pem"), "-no_nonce", "-resp_text"];

        // Twice good: the second is the pre-produced answer (same producedAt), served without a signature.
        var first = (await OpensslAsync(ask)).EnsureSuccess("ocsp good");
        var second = (await OpensslAsync(ask)).EnsureSuccess("ocsp good again");
        Assert.Contains($"{cert}: good", first.StdOut, StringComparison.Ordinal);
        Assert.Equal(ProducedAt(first.StdOut), ProducedAt(second.StdOut));

        // No waiting for the publisher: the answer changes as soon as the store records the revocation.
        await client.Credentials.RevokeCredentialAsync(
            new RevokeCredentialRequest { CredentialId = credential.CredentialId, Reason = RevocationReason.KeyCompromise });
        var revoked = (await OpensslAsync(ask)).EnsureSuccess("ocsp revoked");
        Assert.Contains("Response verify OK", revoked.StdOut + revoked.StdErr, StringComparison.Ordinal);
        Assert.Contains($"{cert}: revoked", revoked.StdOut, StringComparison.Ordinal);

        static string ProducedAt(string text) =>
            Lines(text).Single(l => l.TrimStart().StartsWith("Produced At:", StringComparison.Ordinal)).Trim();
    }

    [Fact]
    public async Task Three_credentials_of_one_holder_have_their_own_certificates_CAs_and_key_domains()
    {
        var server = fixture.Server;
        using var client = Operator();
        var user = await CredentialLifecycleTests.NewHolderAsync(client);
        var (qualified, qualifiedTransport) = await CredentialLifecycleTests.EnrolAsync(client, user, Level.Qualified);
        var (acme, _) = await CredentialLifecycleTests.EnrolAsync(client, user, Level.Advanced, organisation: "Acme Loans");
        var (beta, _) = await CredentialLifecycleTests.EnrolAsync(client, user, Level.Advanced, organisation: "Beta Insurance");
        var all = new[] { (qualified, "qualified", (string?)null), (acme, "advanced", "Acme Loans"), (beta, "advanced", "Beta Insurance") };

        var certs = all.Select(c => X509CertificateLoader.LoadCertificate(c.Item1.Certificate.Span)).ToArray();
        Assert.Equal(3, certs.Select(c => c.SerialNumber).Distinct().Count());
        Assert.Equal(3, certs.Select(c => Convert.ToHexString(c.PublicKey.EncodedKeyValue.RawData)).Distinct().Count());
        for (var i = 0; i < all.Length; i++)
        {
            var (credential, level, organisation) = all[i];
            Assert.Equal(organisation, Attribute(certs[i].SubjectName, "2.5.4.10"));

            // Issued by its level's CA, and by no other level's.
            var file = await WritePemAsync(_dir, credential.CredentialId + ".pem", credential.Certificate);
            var own = await OpensslAsync("verify", "-CAfile", server.Pki("root.pem"), "-untrusted", server.Pki($"ca-{level}.pem"), file);
            Assert.True(own.ExitCode == 0, own.StdOut + own.StdErr);
            var other = level == "qualified" ? "advanced" : "qualified";
            Assert.NotEqual(0, (await OpensslAsync("verify", "-CAfile", server.Pki("root.pem"), "-untrusted", server.Pki($"ca-{other}.pem"), file)).ExitCode);
        }

        // The store records each wrapped key under its level's domain.
        var stored = ReadWrappedKeys(server.SqlitePath, [.. all.Select(c => c.Item1.CredentialId)]);
        foreach (var (credential, level, _) in all)
        {
            Assert.Equal(level, stored[credential.CredentialId].Domain);
        }

        // Through the vault, on the server's own tokens: the qualified key signs in its domain with the activation
        // PIN, the advanced domain refuses it by name, and relabelled as advanced (digest recomputed, so only the
        // master key can tell) the advanced token cannot unwrap it at all.
        await ActivateAsync(client, qualified.CredentialId, qualifiedTransport, "24681357");
        var key = ReadWrappedKeys(server.SqlitePath, [qualified.CredentialId])[qualified.CredentialId];
        var pin = "24681357"u8.ToArray();
        var digest = SHA256.HashData("loan agreement 42"u8);
        server.ExportHsmConfiguration();
        using var vault = HsmVault.Open(new KeyVaultOptions
        {
            Domains = [.. VaultDomains.Select(d => new KeyDomainOptions { Name = d, TokenLabel = d, PinFile = server.HsmPinFile(d), Sessions = 1 })],
        });
        var wrongDomain = await Assert.ThrowsAsync<KeyVaultException>(() =>
            vault.Domain("advanced").SignBatchAsync(key, pin, [digest], SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongDomain, wrongDomain.Kind);

        var relabelled = Relabel(key, "advanced");
        Assert.True(relabelled.IsIntact());
        var foreign = await Assert.ThrowsAsync<KeyVaultException>(() =>
            vault.Domain("advanced").SignBatchAsync(relabelled, pin, [digest], SignatureScheme.EcdsaSha256Der, CancellationToken.None));
        Assert.Equal(KeyVaultErrorKind.WrongPin, foreign.Kind);

        var signature = (await vault.Domain("qualified").SignBatchAsync(key, pin, [digest], SignatureScheme.EcdsaSha256Der, CancellationToken.None))[0];
        using var publicKey = certs[0].GetECDsaPublicKey()!;
        Assert.True(publicKey.VerifyHash(digest, signature, DSASignatureFormat.Rfc3279DerSequence));
    }

    private static List<string> Lines(string text) => [.. text.Split('\n').Select(l => l.Trim())];

    private static string? Attribute(X500DistinguishedName name, string oid) =>
        name.EnumerateRelativeDistinguishedNames().FirstOrDefault(r => r.GetSingleElementType().Value == oid)?.GetSingleElementValue();

    /// <summary>The statement OIDs inside the qcStatements extension, as openssl's asn1parse prints them.</summary>
    private async Task<List<string>> QcStatementOidsAsync(string cert)
    {
        var der = Path.Combine(_dir, "cert.der");
        (await OpensslAsync("x509", "-in", cert, "-outform", "DER", "-out", der)).EnsureSuccess("x509 to DER");
        var top = (await OpensslAsync("asn1parse", "-inform", "DER", "-in", der)).EnsureSuccess("asn1parse").StdOut.Split('\n');

        // "  off:d=4  hl=2 l=   8 prim: OBJECT :qcStatements" then the OCTET STRING holding the extension's value.
        var at = Array.FindIndex(top, l => l.EndsWith(":qcStatements", StringComparison.Ordinal));
        Assert.True(at >= 0, "no qcStatements extension:\n" + string.Join('\n', top));
        var octets = top.Skip(at + 1).First(l => l.Contains("OCTET STRING", StringComparison.Ordinal));
        var offset = octets.Split(':')[0].Trim();
        var inner = (await OpensslAsync("asn1parse", "-inform", "DER", "-in", der, "-strparse", offset)).EnsureSuccess("asn1parse -strparse").StdOut;
        return [.. inner.Split('\n').Where(l => l.Contains("OBJECT", StringComparison.Ordinal)).Select(l => l[(l.LastIndexOf(':') + 1)..].Trim())];
    }

    private static Dictionary<string, WrappedCredentialKey> ReadWrappedKeys(string database, string[] ids)
    {
        using var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = database, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        db.Open();
        using var query = db.CreateCommand();
        query.CommandText = "SELECT id, key_domain, key_algorithm, key_spki, key_salt, key_blob, key_digest FROM credentials";
        var keys = new Dictionary<string, WrappedCredentialKey>();
        using var r = query.ExecuteReader();
        while (r.Read())
        {
            if (ids.Contains(r.GetString(0)))
            {
                keys[r.GetString(0)] = new WrappedCredentialKey(
                    r.GetString(1), Enum.Parse<VaultAlgorithm>(r.GetString(2)), (byte[])r[3], (byte[])r[4], (byte[])r[5], (byte[])r[6]);
            }
        }

        Assert.Equal(ids.Length, keys.Count);
        return keys;
    }

    /// <summary>The same wrapped key claimed for another domain, its integrity digest recomputed as the vault does.</summary>
    private static WrappedCredentialKey Relabel(WrappedCredentialKey key, string domain)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("DTrust wrapped credential key v1"u8);
        foreach (var field in new[] { System.Text.Encoding.UTF8.GetBytes(domain), BitConverter.GetBytes((int)key.Algorithm), key.SubjectPublicKeyInfo, key.Salt, key.Blob })
        {
            var length = new byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(length, field.Length);
            hash.AppendData(length);
            hash.AppendData(field);
        }

        return key with { Domain = domain, BlobDigest = hash.GetHashAndReset() };
    }
}
