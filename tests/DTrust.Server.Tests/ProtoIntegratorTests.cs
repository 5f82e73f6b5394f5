using System.Globalization;
using DTrust.Testing;

namespace DTrust.Server.Tests;

/// <summary>
/// An integrator in another language uses only our .proto files: grpc-js loads proto/dtrust/tsa/v1/tsa.proto and
/// time-stamps through the real server; openssl verifies what it got.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed class ProtoIntegratorTests(ServerFixture fixture)
{
    [Fact]
    public async Task Grpc_js_with_our_proto_gets_a_token_openssl_verifies()
    {
        await NodePeers.EnsureInstalledAsync();
        var dir = Directory.CreateTempSubdirectory("dtrust-node-").FullName;
        var data = Path.Combine(dir, "doc.txt");
        await File.WriteAllTextAsync(data, "HR contract " + Guid.NewGuid());
        var query = Path.Combine(dir, "req.tsq");
        var reply = Path.Combine(dir, "resp.tsr");
        (await ProcessRunner.RunAsync("openssl", ["ts", "-query", "-data", data, "-sha256", "-cert", "-out", query])).EnsureSuccess("openssl ts -query");

        var node = await ProcessRunner.RunAsync(
            "node",
            [
                Path.Combine(RepoPaths.Root, "tests", "DTrust.Server.Tests", "Peers", "tsa_client.js"),
                "127.0.0.1:" + fixture.Server.GrpcPort.ToString(CultureInfo.InvariantCulture),
                Path.Combine(RepoPaths.Root, "proto"),
                query,
                reply,
            ],
            new Dictionary<string, string> { ["NODE_PATH"] = NodePeers.NodeModules });
        Assert.True(node.ExitCode == 0, node.StdOut + node.StdErr);

        var verify = await ProcessRunner.RunAsync(
            "openssl",
            ["ts", "-verify", "-data", data, "-in", reply, "-CAfile", fixture.Server.Pki("root.pem"), "-untrusted", fixture.Server.Pki("tsa.pem")]);
        Assert.Contains("Verification: OK", verify.StdOut, StringComparison.Ordinal);
        Directory.Delete(dir, recursive: true);
    }
}
