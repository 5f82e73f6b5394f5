using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using DTrust.Client;
using DTrust.Testing;
using Grpc.Core;

namespace DTrust.Server.Tests;

/// <summary>dtrust.tsa.v1.TimestampService over gRPC, through the .NET client and the dtrust CLI.</summary>
[Collection(ServerGroup.Name)]
public sealed class TimestampGrpcTests(ServerFixture fixture)
{
    [Theory]
    [InlineData("SHA256")]
    [InlineData("SHA512")]
    public async Task Client_gets_a_token_that_dotnet_verifies(string hash)
    {
        using var client = DTrustClient.Connect(fixture.Server.GrpcAddress);
        var data = RandomNumberGenerator.GetBytes(1000);
        var (token, _) = await client.TimestampDataAsync(data, new HashAlgorithmName(hash));

        Assert.True(token.VerifySignatureForData(data, out var signer));
        Assert.Equal("CN=DTrust Time-Stamping Unit 1, O=DTrust, C=DE", signer!.Subject);
        Assert.True(token.TokenInfo.AccuracyInMicroseconds is > 0 and <= 1_000_000);
        Assert.InRange(token.TokenInfo.Timestamp, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddMinutes(1));
    }

    [Fact]
    public async Task Empty_request_is_invalid_argument()
    {
        using var client = DTrustClient.Connect(fixture.Server.GrpcAddress);
        var e = await Assert.ThrowsAsync<RpcException>(() => client.TimestampAsync(ReadOnlyMemory<byte>.Empty));
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
    }

    [Fact]
    public async Task Sha1_request_is_answered_with_a_badAlg_rejection()
    {
        using var client = DTrustClient.Connect(fixture.Server.GrpcAddress);
        var request = Rfc3161TimestampRequest.CreateFromData(new byte[] { 1, 2, 3 }, HashAlgorithmName.SHA1);
        var response = await client.TimestampAsync(request.Encode());
        Assert.Throws<CryptographicException>(() => request.ProcessResponse(response, out _));

        // PKIStatusInfo: status rejection (2), then failInfo with only bit 0 (badAlg) set.
        var statusInfo = new AsnReader(response, AsnEncodingRules.DER).ReadSequence().ReadSequence();
        Assert.Equal(2, (int)statusInfo.ReadInteger());
        if (statusInfo.PeekTag().HasSameClassAndValue(Asn1Tag.Sequence))
        {
            statusInfo.ReadSequence(); // statusString
        }

        var failInfo = statusInfo.ReadNamedBitList();
        Assert.True(failInfo[0], "badAlg");
        Assert.Equal(1, failInfo.Cast<bool>().Count(bit => bit));
    }

    [Fact]
    public async Task Cli_timestamps_a_file_and_checks_the_chain()
    {
        var dir = Directory.CreateTempSubdirectory("dtrust-cli-").FullName;
        var doc = Path.Combine(dir, "doc.txt");
        await File.WriteAllTextAsync(doc, "loan agreement 42");
        var cli = Tools.CliDll;
        var run = await ProcessRunner.RunAsync(
            "dotnet",
            [cli, "timestamp", doc, "--server", fixture.Server.GrpcAddress.ToString(), "--ca", fixture.Server.Pki("root.pem")]);
        Assert.True(run.ExitCode == 0, run.StdErr + run.StdOut);
        Assert.Contains("chain    OK", run.StdOut, StringComparison.Ordinal);
        Assert.Contains("tsa      CN=DTrust Time-Stamping Unit 1, O=DTrust, C=DE", run.StdOut, StringComparison.Ordinal);

        // openssl agrees on the serial the CLI printed and verifies the file the CLI wrote.
        var reply = (await ProcessRunner.RunAsync("openssl", ["ts", "-reply", "-in", doc + ".tsr", "-text"])).EnsureSuccess("openssl");
        var serial = run.StdOut.Split('\n').First(l => l.StartsWith("serial", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        Assert.Contains("Serial number: 0x" + serial.TrimStart('0'), reply.StdOut, StringComparison.Ordinal);
        var verify = await ProcessRunner.RunAsync(
            "openssl",
            ["ts", "-verify", "-data", doc, "-in", doc + ".tsr", "-CAfile", fixture.Server.Pki("root.pem"), "-untrusted", fixture.Server.Pki("tsa.pem")]);
        Assert.Contains("Verification: OK", verify.StdOut, StringComparison.Ordinal);

        var health = await ProcessRunner.RunAsync("dotnet", [cli, "health", "--server", fixture.Server.GrpcAddress.ToString()]);
        Assert.Equal("SERVING", health.StdOut.Trim());
        Directory.Delete(dir, recursive: true);
    }
}
