using System.Diagnostics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;
using Grpc.Core;
using HashAlgorithm = DTrust.Signing.V1.HashAlgorithm;

namespace DTrust.Server.Tests;

/// <summary>Helpers of the fail-closed tests: one challenge, one signature, and a poll for recovery.</summary>
internal static class FailClosed
{
    public const string Pin = "24681357";

    /// <summary>
    /// For tests that authorize many times, for one credential (and so one phone number) and from one partner:
    /// enough challenges a minute and codes an hour that repeated rounds, loops under load and recovery polls never
    /// meet the rate limits (a faster server sends more codes in the same seconds).
    /// </summary>
    public static readonly Dictionary<string, string> ManyChallenges = new()
    {
        ["DTrust__Signing__ChallengesPerMinute"] = "1000",
        ["DTrust__Signing__OtpSendsPerPhonePerHour"] = "100000",
        ["DTrust__Signing__OtpSendsPerPartnerPerHour"] = "100000",
    };

    /// <summary>Both settings; where both set a key, <paramref name="a"/>'s value wins.</summary>
    public static Dictionary<string, string> With(this Dictionary<string, string> a, Dictionary<string, string> b)
    {
        var merged = new Dictionary<string, string>(b);
        foreach (var (k, v) in a)
        {
            merged[k] = v;
        }

        return merged;
    }

    public static AuthorizeSignatureRequest Authorize(Credential c, ByteString[] hashes)
    {
        var r = new AuthorizeSignatureRequest { CredentialId = c.CredentialId, HashAlgorithm = HashAlgorithm.Sha256, Description = "fail-closed" };
        r.Hashes.AddRange(hashes);
        return r;
    }

    public static SignHashRequest Sign(Credential c, string challengeId, string otp, ByteString[] hashes)
    {
        var r = new SignHashRequest
        {
            CredentialId = c.CredentialId,
            ChallengeId = challengeId,
            Otp = otp,
            ActivationPin = Pin,
            HashAlgorithm = HashAlgorithm.Sha256,
            SignatureFormat = SignatureFormat.Raw,
        };
        r.Hashes.AddRange(hashes);
        return r;
    }

    /// <summary>Authorize + code + SignHash on <paramref name="server"/>; the signatures are checked against the certificate.</summary>
    public static async Task FullFlowAsync(ServerProcess server, DTrustClient partner, Credential credential)
    {
        var hashes = SigningFlowTests.Hashes(2, HashAlgorithmName.SHA256);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(Authorize(credential, hashes));
        var otp = challenge.RequiredFactors.Contains(Factor.Otp) ? await SigningFlowTests.OtpAsync(server, challenge.ChallengeId) : "";
        var signed = await partner.Signing.SignHashAsync(Sign(credential, challenge.ChallengeId, otp, hashes));
        AssertVerifies(signed, hashes);
    }

    public static void AssertVerifies(SignHashResponse signed, ByteString[] hashes)
    {
        Assert.Equal(hashes.Length, signed.Signatures.Count);
        using var certificate = X509CertificateLoader.LoadCertificate(signed.CertificateChain[0].ToByteArray());
        using var key = certificate.GetECDsaPublicKey()!;
        for (var i = 0; i < hashes.Length; i++)
        {
            Assert.True(key.VerifyHash(hashes[i].Span, signed.Signatures[i].Span, DSASignatureFormat.Rfc3279DerSequence), $"signature {i}");
        }
    }

    /// <summary>The call fails with UNAVAILABLE: no response, so no signature, reaches the caller.</summary>
    public static async Task AssertUnavailable<T>(AsyncUnaryCall<T> call, string what)
    {
        var e = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.True(e.StatusCode == StatusCode.Unavailable, $"{what}: expected UNAVAILABLE, got {e.StatusCode}: {e.Status.Detail}");
    }

    /// <summary>Retries the full flow until it succeeds (the server reconnects by itself); returns how long that took.</summary>
    public static async Task<TimeSpan> RecoversAsync(ServerProcess server, DTrustClient partner, Credential credential, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        RpcException? last = null;
        while (clock.Elapsed < within)
        {
            try
            {
                await FullFlowAsync(server, partner, credential);
                return clock.Elapsed;
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            {
                last = e;
                await Task.Delay(250);
            }
        }

        Assert.Fail($"no full flow within {within.TotalSeconds}s without restarting the server; last: {last?.Status}\n{server.Log}");
        return clock.Elapsed;
    }

    public static async Task AssertAuditIntactAsync(DTrustClient op)
    {
        var verdict = await op.Credentials.VerifyAuditLogAsync(new VerifyAuditLogRequest());
        Assert.True(verdict.Intact, verdict.ToString());
    }
}
