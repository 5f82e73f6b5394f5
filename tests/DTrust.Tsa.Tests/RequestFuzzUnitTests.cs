using System.Formats.Asn1;
using System.Security.Cryptography.Pkcs;
using Xunit;

namespace DTrust.Tsa.Tests;

/// <summary>Mutated requests: the TSA must always answer a parseable TimeStampResp and never throw.</summary>
public sealed class RequestFuzzUnitTests : IDisposable
{
    private readonly TestPki _pki = TestPki.CreateEcdsa();

    public void Dispose() => _pki.Dispose();

    [Fact]
    public void Mutated_requests_always_get_a_well_formed_answer()
    {
        var tsa = new TimeStampAuthority(new TsaOptions(), _pki.Signer(), TimeProvider.System);
        var valid = new RequestBuilder { Nonce = [0x01, 0x02, 0x03], CertReq = true, Extensions = [("1.2.3", false)] }.Encode();
        var random = new Random(5816);
        int granted = 0, rejected = 0;

        for (var i = 0; i < 10_000; i++)
        {
            var request = Mutate(valid, random);
            var result = tsa.Respond(request);

            Assert.Equal(result.Status, ReadStatus(result.Response));
            if (result.IsGranted)
            {
                granted++;

                // A mutation that still parses strictly must still be a request we accept: same imprint echoed.
                Assert.True(Rfc3161TimestampRequest.TryDecode(request, out var parsed, out var consumed));
                Assert.Equal(request.Length, consumed);
                var token = TokenInspector.Decode(result);
                Assert.Equal(parsed!.GetMessageHash().ToArray(), token.TokenInfo.GetMessageHash().ToArray());
            }
            else
            {
                rejected++;
                Assert.True(result.Token.IsEmpty);
                Assert.NotEqual(PkiFailureInfo.SystemFailure, result.FailureInfo);
            }
        }

        // Both paths exercised, or the mutator is not doing its job.
        Assert.True(granted > 100 && rejected > 100, $"granted {granted}, rejected {rejected}");
    }

    private static byte[] Mutate(byte[] valid, Random random)
    {
        var bytes = (byte[])valid.Clone();
        switch (random.Next(4))
        {
            case 0:
                bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return bytes;
            case 1:
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                return bytes;
            case 2:
                return bytes[..random.Next(bytes.Length)];
            default:
                var at = random.Next(bytes.Length);
                return [.. bytes[..at], (byte)random.Next(256), .. bytes[at..]];
        }
    }

    private static PkiStatus ReadStatus(byte[] response)
    {
        var resp = new AsnReader(response, AsnEncodingRules.DER).ReadSequence();
        var statusInfo = resp.ReadSequence();
        Assert.True(statusInfo.TryReadInt32(out var status));
        return (PkiStatus)status;
    }
}
