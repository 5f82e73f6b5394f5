using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using DTrust.Testing;
using Grpc.Core;
using Xunit.Abstractions;

namespace DTrust.Server.Tests;

/// <summary>
/// gRPC clients nobody here wrote (Debian's python3-grpcio, @grpc/grpc-js from npm) call the real server: health,
/// a time-stamp that openssl verifies, an error status, a deadline, an oversized request, and after each error a
/// call that must still be answered. Each peer runs once per server and prints what it saw per case; every case is
/// asserted on its own. The same suite runs over h2c and over TLS.
/// </summary>
public abstract class PeerConformanceTests(ITestOutputHelper output)
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<PeerRun>>> Runs = new();

    public static readonly TheoryData<string, string> Cases = Build();

    protected abstract ServerProcess Server { get; }

    /// <summary>The PEM trust anchor for a TLS server; null speaks h2c.</summary>
    protected abstract string? CaPath { get; }

    private static TheoryData<string, string> Build()
    {
        var data = new TheoryData<string, string>();
        foreach (var peer in new[] { "python", "node" })
        {
            foreach (var c in new[] { "health", "timestamp", "empty_request", "after_error", "deadline", "after_deadline", "too_large", "after_too_large" })
            {
                data.Add(peer, c);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Peer_sees_the_spec_behaviour(string peer, string @case)
    {
        var run = await Runs.GetOrAdd($"{peer}/{Server.GrpcPort}", _ => new(() => RunPeerAsync(peer))).Value;
        Assert.True(run.Results.TryGetProperty(@case, out var result), $"{peer} printed no result for {@case}: {run.Results}");
        var code = (StatusCode)result.GetProperty("code").GetInt32();
        var details = result.GetProperty("details").GetString();
        var what = $"{peer}/{(CaPath is null ? "h2c" : "tls")}/{@case}: {result}";
        output.WriteLine(what);
        switch (@case)
        {
            case "health" or "after_error" or "after_deadline" or "after_too_large":
                Assert.True(code == StatusCode.OK, what);
                Assert.Equal("SERVING", result.GetProperty("value").GetString());
                break;
            case "timestamp":
                Assert.True(code == StatusCode.OK, what);
                var verify = await ProcessRunner.RunAsync(
                    "openssl",
                    ["ts", "-verify", "-data", run.DataPath, "-in", run.ReplyPath, "-CAfile", Server.Pki("root.pem"), "-untrusted", Server.Pki("tsa.pem")]);
                Assert.True(verify.StdOut.Contains("Verification: OK", StringComparison.Ordinal), what + "\n" + verify.StdOut + verify.StdErr);
                break;
            case "empty_request":
                Assert.True(code == StatusCode.InvalidArgument, what);
                Assert.Equal("der_request is empty: send a DER TimeStampReq", details);
                break;
            case "deadline":
                Assert.True(code == StatusCode.DeadlineExceeded, what);
                break;
            case "too_large":
                Assert.True(code == StatusCode.ResourceExhausted, what);
                break;
            default:
                Assert.Fail("unknown case " + @case);
                break;
        }
    }

    private async Task<PeerRun> RunPeerAsync(string peer)
    {
        // Kept for the whole run (the timestamp case verifies the reply later); under the system temp folder.
        var dir = Directory.CreateTempSubdirectory("dtrust-peer-").FullName;
        var data = Path.Combine(dir, "doc.txt");
        await File.WriteAllTextAsync(data, $"{peer} peer document {Guid.NewGuid()}");
        var query = Path.Combine(dir, "req.tsq");
        var reply = Path.Combine(dir, "resp.tsr");
        (await ProcessRunner.RunAsync("openssl", ["ts", "-query", "-data", data, "-sha256", "-cert", "-out", query])).EnsureSuccess("openssl ts -query");

        var target = "127.0.0.1:" + Server.GrpcPort.ToString(CultureInfo.InvariantCulture);
        var peers = Path.Combine(RepoPaths.Root, "tests", "peers");
        string tool;
        List<string> args;
        Dictionary<string, string> env = [];
        if (peer == "python")
        {
            // Debian's interpreter: the pyenv python3 first on PATH cannot see python3-grpcio.
            tool = "/usr/bin/python3";
            args = [Path.Combine(peers, "python", "peer.py"), target, query, reply];
        }
        else
        {
            await NodePeers.EnsureInstalledAsync();
            tool = "node";
            args = [Path.Combine(peers, "node", "peer.js"), target, Path.Combine(RepoPaths.Root, "proto"), query, reply];
            env["NODE_PATH"] = NodePeers.NodeModules;
        }

        if (CaPath is not null)
        {
            args.Add(CaPath);
        }

        var result = await ProcessRunner.RunAsync(tool, args, env, timeout: TimeSpan.FromSeconds(120));
        result.EnsureSuccess($"{peer} peer");
        return new PeerRun(JsonDocument.Parse(result.StdOut).RootElement.Clone(), data, reply);
    }

    private sealed record PeerRun(JsonElement Results, string DataPath, string ReplyPath);
}

[Collection(ServerGroup.Name)]
public sealed class PeerConformanceH2cTests(ServerFixture fixture, ITestOutputHelper output) : PeerConformanceTests(output)
{
    protected override ServerProcess Server => fixture.Server;

    protected override string? CaPath => null;
}

[Collection(TlsServerGroup.Name)]
public sealed class PeerConformanceTlsTests(TlsServerFixture fixture, ITestOutputHelper output) : PeerConformanceTests(output)
{
    protected override ServerProcess Server => fixture.Server;

    protected override string? CaPath => fixture.CertificatePath;
}
