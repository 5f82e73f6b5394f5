using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;
using Grpc.Core;
using HashAlgorithm = DTrust.Signing.V1.HashAlgorithm;

namespace DTrust.Server.Tests;

/// <summary>AuthorizeSignature + SignHash on the real server: every level, algorithm and format, and the refusals.</summary>
[Collection(ServerGroup.Name)]
public sealed class SigningFlowTests(ServerFixture fixture)
{
    internal const string Pin = "24681357";

    private DTrustClient Operator() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("operator"));

    private DTrustClient Partner() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("partner"));

    /// <summary>A VALID credential of the dev tenant with activation PIN <see cref="Pin"/>.</summary>
    internal static async Task<Credential> ActiveCredentialAsync(DTrustClient op, Level level, KeyAlgorithm algorithm = KeyAlgorithm.EcP256)
    {
        var user = await CredentialLifecycleTests.NewHolderAsync(op);
        var (credential, transport) = await CredentialLifecycleTests.EnrolAsync(op, user, level, algorithm);
        return await op.Credentials.ActivateCredentialAsync(
            new ActivateCredentialRequest { CredentialId = credential.CredentialId, TransportPin = transport, ActivationPin = Pin });
    }

    /// <summary>The one-time code the server sent for <paramref name="challengeId"/> (the development outbox).</summary>
    internal static Task<string> OtpAsync(ServerProcess server, string challengeId) => ServerProcess.OutboxCodeAsync(server.StateDir, challengeId);

    internal static ByteString[] Hashes(int count, HashAlgorithmName hash) =>
        [.. Enumerable.Range(0, count).Select(_ => ByteString.CopyFrom(CryptographicOperations.HashData(hash, RandomNumberGenerator.GetBytes(64))))];

    internal static SignHashRequest SignRequest(Credential c, AuthorizeSignatureResponse challenge, string otp, ByteString[] hashes,
        HashAlgorithm hash = HashAlgorithm.Sha256, SignatureFormat format = SignatureFormat.Raw, string pin = Pin)
    {
        var r = new SignHashRequest
        {
            CredentialId = c.CredentialId,
            ChallengeId = challenge.ChallengeId,
            Otp = otp,
            ActivationPin = pin,
            HashAlgorithm = hash,
            SignatureFormat = format,
        };
        r.Hashes.AddRange(hashes);
        return r;
    }

    internal static AuthorizeSignatureRequest AuthorizeRequest(Credential c, ByteString[] hashes, HashAlgorithm hash = HashAlgorithm.Sha256)
    {
        var r = new AuthorizeSignatureRequest { CredentialId = c.CredentialId, HashAlgorithm = hash, Description = "test contract" };
        r.Hashes.AddRange(hashes);
        return r;
    }

    [Theory]
    [InlineData(Level.Qualified, KeyAlgorithm.EcP256, HashAlgorithm.Sha256, RsaPadding.Unspecified)]
    [InlineData(Level.Advanced, KeyAlgorithm.EcP384, HashAlgorithm.Sha384, RsaPadding.Unspecified)]
    [InlineData(Level.Simple, KeyAlgorithm.Rsa2048, HashAlgorithm.Sha256, RsaPadding.Pkcs1V15)]
    [InlineData(Level.Qualified, KeyAlgorithm.Rsa2048, HashAlgorithm.Sha256, RsaPadding.Pss)]
    [InlineData(Level.Advanced, KeyAlgorithm.Rsa3072, HashAlgorithm.Sha512, RsaPadding.Pss)]
    public async Task Raw_signatures_verify_with_the_certificate(Level level, KeyAlgorithm algorithm, HashAlgorithm hash, RsaPadding padding)
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await ActiveCredentialAsync(op, level, algorithm);
        var hashName = new HashAlgorithmName(hash.ToString().ToUpperInvariant());
        var hashes = Hashes(3, hashName);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(AuthorizeRequest(credential, hashes, hash));
        Assert.Equal(level != Level.Simple, challenge.RequiredFactors.Contains(Factor.Otp));
        var otp = level == Level.Simple ? "" : await OtpAsync(fixture.Server, challenge.ChallengeId);

        var request = SignRequest(credential, challenge, otp, hashes, hash);
        request.RsaPadding = padding;
        var signed = await partner.Signing.SignHashAsync(request);

        Assert.Equal(3, signed.Signatures.Count);
        using var certificate = X509CertificateLoader.LoadCertificate(signed.CertificateChain[0].ToByteArray());
        for (var i = 0; i < 3; i++)
        {
            var ok = certificate.GetECDsaPublicKey() is { } ec
                ? ec.VerifyHash(hashes[i].Span, signed.Signatures[i].Span, DSASignatureFormat.Rfc3279DerSequence)
                : certificate.GetRSAPublicKey()!.VerifyHash(
                    hashes[i].Span, signed.Signatures[i].Span, hashName,
                    padding == RsaPadding.Pkcs1V15 ? RSASignaturePadding.Pkcs1 : RSASignaturePadding.Pss);
            Assert.True(ok, $"signature {i} does not verify");
        }
    }

    [Fact]
    public async Task The_largest_real_batch_fits_under_the_signing_message_limit()
    {
        // 100 SHA-512 hashes (the most a challenge takes) with a long description: the 64 KiB cap on
        // SigningService messages must stay above what a real partner sends.
        using var op = Operator();
        using var partner = Partner();
        var credential = await ActiveCredentialAsync(op, Level.Qualified);
        var hashes = Hashes(100, HashAlgorithmName.SHA512);
        var authorize = AuthorizeRequest(credential, hashes, HashAlgorithm.Sha512);
        authorize.Description = new string('x', 200);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(authorize);
        var otp = await OtpAsync(fixture.Server, challenge.ChallengeId);

        var signed = await partner.Signing.SignHashAsync(SignRequest(credential, challenge, otp, hashes, HashAlgorithm.Sha512));
        Assert.Equal(100, signed.Signatures.Count);
    }

    [Fact]
    public async Task Cades_with_timestamp_verifies_with_dotnet_and_openssl()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await ActiveCredentialAsync(op, Level.Qualified);
        var dir = Directory.CreateTempSubdirectory("dtrust-cades-").FullName;
        try
        {
            var files = Enumerable.Range(0, 2).Select(i => Path.Combine(dir, $"doc{i}.txt")).ToArray();
            for (var i = 0; i < files.Length; i++)
            {
                await File.WriteAllTextAsync(files[i], $"loan agreement {i} " + Guid.NewGuid());
            }

            var hashes = files.Select(f => ByteString.CopyFrom(SHA256.HashData(File.ReadAllBytes(f)))).ToArray();
            var challenge = await partner.Signing.AuthorizeSignatureAsync(AuthorizeRequest(credential, hashes));
            var request = SignRequest(credential, challenge, await OtpAsync(fixture.Server, challenge.ChallengeId), hashes, format: SignatureFormat.CmsDetached);
            request.Timestamp = true;
            var signed = await partner.Signing.SignHashAsync(request);

            for (var i = 0; i < files.Length; i++)
            {
                var p7s = files[i] + ".p7s";
                await File.WriteAllBytesAsync(p7s, signed.Signatures[i].ToByteArray());
                var cms = new SignedCms(new ContentInfo(await File.ReadAllBytesAsync(files[i])), detached: true);
                cms.Decode(signed.Signatures[i].ToByteArray());
                cms.CheckSignature(verifySignatureOnly: true);
                var tst = cms.SignerInfos[0].UnsignedAttributes.Cast<CryptographicAttributeObject>()
                    .Single(a => a.Oid.Value == "1.2.840.113549.1.9.16.2.14");
                Assert.True(Rfc3161TimestampToken.TryDecode(tst.Values[0].RawData, out var token, out _));
                Assert.True(token!.VerifySignatureForSignerInfo(cms.SignerInfos[0], out _, token.AsSignedCms().Certificates));

                var verify = await ProcessRunner.RunAsync("openssl",
                    ["cms", "-verify", "-binary", "-content", files[i], "-inform", "DER", "-in", p7s, "-CAfile", fixture.Server.Pki("root.pem"), "-out", "/dev/null"]);
                Assert.True(verify.ExitCode == 0, verify.StdErr);
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Wrong_code_three_times_voids_the_challenge()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await ActiveCredentialAsync(op, Level.Qualified);
        var hashes = Hashes(1, HashAlgorithmName.SHA256);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(AuthorizeRequest(credential, hashes));
        var otp = await OtpAsync(fixture.Server, challenge.ChallengeId);
        var wrong = otp == "000000" ? "111111" : "000000";
        for (var i = 0; i < 3; i++)
        {
            await CredentialLifecycleTests.AssertRefused(StatusCode.PermissionDenied, partner.Signing.SignHashAsync(SignRequest(credential, challenge, wrong, hashes)));
        }

        // Gone: even the right code no longer signs.
        await CredentialLifecycleTests.AssertRefused(StatusCode.FailedPrecondition, partner.Signing.SignHashAsync(SignRequest(credential, challenge, otp, hashes)));
    }

    [Fact]
    public async Task A_used_challenge_never_signs_again_and_changed_hashes_are_refused()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await ActiveCredentialAsync(op, Level.Advanced);
        var hashes = Hashes(3, HashAlgorithmName.SHA256);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(AuthorizeRequest(credential, hashes));
        var otp = await OtpAsync(fixture.Server, challenge.ChallengeId);

        ByteString[] reordered = [hashes[1], hashes[0], hashes[2]];
        ByteString[] swapped = [hashes[0], hashes[1], Hashes(1, HashAlgorithmName.SHA256)[0]];
        ByteString[] added = [.. hashes, Hashes(1, HashAlgorithmName.SHA256)[0]];
        foreach (var changed in new[] { reordered, swapped, added })
        {
            await CredentialLifecycleTests.AssertRefused(StatusCode.PermissionDenied, partner.Signing.SignHashAsync(SignRequest(credential, challenge, otp, changed)));
        }

        await partner.Signing.SignHashAsync(SignRequest(credential, challenge, otp, hashes));
        await CredentialLifecycleTests.AssertRefused(StatusCode.FailedPrecondition, partner.Signing.SignHashAsync(SignRequest(credential, challenge, otp, hashes)));
    }

    [Fact]
    public async Task Five_wrong_pins_lock_and_then_the_right_pin_is_refused_too()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await ActiveCredentialAsync(op, Level.Simple);
        var hashes = Hashes(1, HashAlgorithmName.SHA256);
        for (var i = 0; i < 5; i++)
        {
            var challenge = await partner.Signing.AuthorizeSignatureAsync(AuthorizeRequest(credential, hashes));
            await CredentialLifecycleTests.AssertRefused(StatusCode.FailedPrecondition, partner.Signing.SignHashAsync(SignRequest(credential, challenge, "", hashes, pin: "99999999")));
        }

        var locked = await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId });
        Assert.Equal(CredentialStatus.Locked, locked.Status);
        await CredentialLifecycleTests.AssertRefused(StatusCode.FailedPrecondition, partner.Signing.AuthorizeSignatureAsync(AuthorizeRequest(credential, hashes)));
    }

    [Fact]
    public async Task Revoked_other_tenant_and_bad_hashes_are_refused()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await ActiveCredentialAsync(op, Level.Advanced);

        // A hash that does not fit the algorithm: INVALID_ARGUMENT before anything else.
        await CredentialLifecycleTests.AssertRefused(StatusCode.InvalidArgument, partner.Signing.AuthorizeSignatureAsync(
            AuthorizeRequest(credential, [ByteString.CopyFrom(new byte[20])])));

        // Another tenant's partner: NOT_FOUND like a missing credential.
        using var other = DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: await fixture.Server.AddCallerAsync("tenant-c", "partner"));
        await CredentialLifecycleTests.AssertRefused(StatusCode.NotFound, other.Signing.AuthorizeSignatureAsync(
            AuthorizeRequest(credential, Hashes(1, HashAlgorithmName.SHA256))));

        await op.Credentials.RevokeCredentialAsync(new RevokeCredentialRequest { CredentialId = credential.CredentialId });
        await CredentialLifecycleTests.AssertRefused(StatusCode.FailedPrecondition, partner.Signing.AuthorizeSignatureAsync(
            AuthorizeRequest(credential, Hashes(1, HashAlgorithmName.SHA256))));
    }

    [Fact]
    public async Task Qualified_needs_the_code_and_too_many_challenges_are_refused()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await ActiveCredentialAsync(op, Level.Qualified);
        var hashes = Hashes(1, HashAlgorithmName.SHA256);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(AuthorizeRequest(credential, hashes));
        await CredentialLifecycleTests.AssertRefused(StatusCode.PermissionDenied, partner.Signing.SignHashAsync(SignRequest(credential, challenge, "", hashes)));

        // Five a minute by default; the first one above counts.
        for (var i = 0; i < 4; i++)
        {
            await partner.Signing.AuthorizeSignatureAsync(AuthorizeRequest(credential, hashes));
        }

        await CredentialLifecycleTests.AssertRefused(StatusCode.ResourceExhausted, partner.Signing.AuthorizeSignatureAsync(AuthorizeRequest(credential, hashes)));
    }
}
