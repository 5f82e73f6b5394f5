using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Xunit;

namespace DTrust.Tsa.Tests;

/// <summary>
/// RespondAsync and TimestampAsync with an asynchronous signer (as an HSM key whose session pool may be busy):
/// the token is the same, the synchronous key is not used, and a wrong signer never yields a token.
/// </summary>
public sealed class AsyncSigningUnitTests : IDisposable
{
    private readonly TestPki _ec = TestPki.CreateEcdsa();

    public void Dispose() => _ec.Dispose();

    [Fact]
    public async Task Without_an_async_signer_RespondAsync_signs_with_the_key()
    {
        var tsa = new TimeStampAuthority(new TsaOptions(), _ec.Signer(), TimeProvider.System);
        var result = await tsa.RespondAsync(new RequestBuilder().Encode(), CancellationToken.None);
        AssertVerifies(result, _ec.TsaCertificate);
    }

    [Fact]
    public async Task RespondAsync_signs_through_the_async_signer_and_never_through_the_sync_key()
    {
        using var key = new FailingEcdsa((ECDsa)_ec.TsaKey);
        var calls = 0;
        var signer = new TsaSigner(_ec.TsaCertificate, key, [_ec.Root])
        {
            SignHashAsync = async (digest, ct) =>
            {
                await Task.Yield(); // completes later, on another thread, like a session that was busy
                Interlocked.Increment(ref calls);
                return ((ECDsa)_ec.TsaKey).SignHash(digest.Span, DSASignatureFormat.Rfc3279DerSequence);
            },
        };
        var tsa = new TimeStampAuthority(new TsaOptions(), signer, TimeProvider.System);
        key.Fail = true;

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => tsa.RespondAsync(new RequestBuilder().Encode(), CancellationToken.None)));
        foreach (var result in results)
        {
            AssertVerifies(result, _ec.TsaCertificate);
        }

        var stamped = await tsa.TimestampAsync(HashAlgorithmName.SHA256, SHA256.HashData("signature value"u8), ct: CancellationToken.None);
        AssertVerifies(stamped, _ec.TsaCertificate);
        Assert.Equal(9, calls);

        // The synchronous path still exists and still uses the (now failing) key.
        Assert.Equal(PkiFailureInfo.SystemFailure, tsa.Respond(new RequestBuilder().Encode()).FailureInfo);
    }

    [Fact]
    public async Task An_rsa_async_signer_uses_the_options_hash_and_padding()
    {
        using var pki = TestPki.CreateRsa();
        var options = new TsaOptions { SignatureHash = HashAlgorithmName.SHA384 };
        var signer = new TsaSigner(pki.TsaCertificate, pki.TsaKey)
        {
            SignHashAsync = (digest, ct) => ValueTask.FromResult(
                ((RSA)pki.TsaKey).SignHash(digest.ToArray(), HashAlgorithmName.SHA384, RSASignaturePadding.Pss)),
        };
        var tsa = new TimeStampAuthority(options, signer, TimeProvider.System);
        AssertVerifies(await tsa.RespondAsync(new RequestBuilder().Encode()), pki.TsaCertificate);
    }

    [Fact]
    public async Task An_async_signer_with_another_key_gives_systemFailure_not_a_token()
    {
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var signer = new TsaSigner(_ec.TsaCertificate, _ec.TsaKey)
        {
            SignHashAsync = (digest, ct) => ValueTask.FromResult(other.SignHash(digest.Span, DSASignatureFormat.Rfc3279DerSequence)),
        };
        var tsa = new TimeStampAuthority(new TsaOptions(), signer, TimeProvider.System);

        var result = await tsa.RespondAsync(new RequestBuilder().Encode());

        Assert.False(result.IsGranted);
        Assert.Equal(PkiFailureInfo.SystemFailure, result.FailureInfo);
    }

    [Fact]
    public async Task A_failing_async_signer_gives_systemFailure_and_cancellation_is_an_exception()
    {
        var fail = true;
        var signer = new TsaSigner(_ec.TsaCertificate, _ec.TsaKey)
        {
            SignHashAsync = async (digest, ct) =>
            {
                if (fail)
                {
                    throw new CryptographicException("CKR_DEVICE_REMOVED from C_Sign");
                }

                await Task.Delay(Timeout.Infinite, ct);
                return [];
            },
        };
        var tsa = new TimeStampAuthority(new TsaOptions(), signer, TimeProvider.System);
        Assert.Equal(PkiFailureInfo.SystemFailure, (await tsa.RespondAsync(new RequestBuilder().Encode())).FailureInfo);

        // Malformed input is still answered without asking the signer.
        Assert.Equal(PkiFailureInfo.BadDataFormat, (await tsa.RespondAsync(new byte[] { 0x30, 0x03, 0x02, 0x01 })).FailureInfo);

        fail = false;
        using var cts = new CancellationTokenSource();
        var pending = tsa.RespondAsync(new RequestBuilder().Encode(), cts.Token);
        Assert.False(pending.IsCompleted);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
    }

    private static void AssertVerifies(TsaResult result, X509Certificate2 certificate)
    {
        var token = TokenInspector.Decode(result);
        token.AsSignedCms().CheckSignature([certificate], verifySignatureOnly: true);
        Assert.True(token.VerifySignatureForHash(token.TokenInfo.GetMessageHash().Span, token.TokenInfo.HashAlgorithmId, out _, [certificate]));
    }
}
