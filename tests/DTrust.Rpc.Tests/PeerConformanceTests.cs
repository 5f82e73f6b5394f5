using System.Collections.Concurrent;
using System.Text.Json;
using DTrust.Testing;
using Xunit;
using Xunit.Abstractions;

namespace DTrust.Rpc.Tests;

/// <summary>
/// gRPC clients nobody here wrote (python3-grpcio from Debian, @grpc/grpc-js from npm) call the test service over
/// h2c and TLS. Each peer run prints what it saw per case; every case is asserted on its own.
/// </summary>
[Collection(RpcServerGroup.Name)]
public sealed class PeerConformanceTests(RpcServerFixture server, ITestOutputHelper output)
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<JsonElement>>> Runs = new();

    public static TheoryData<string, string, string> Cases
    {
        get
        {
            var data = new TheoryData<string, string, string>();
            foreach (var peer in new[] { "python", "node" })
            {
                foreach (var transport in new[] { "h2c", "tls" })
                {
                    foreach (var c in new[] { "unary_ok", "error_status", "unknown_method", "deadline", "too_large", "server_stream", "health", "health_unknown", "after" })
                    {
                        data.Add(peer, transport, c);
                    }
                }
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Peer_sees_the_spec_behaviour(string peer, string transport, string @case)
    {
        var run = await Runs.GetOrAdd($"{peer}/{transport}/{server.H2cPort}", _ => new(() => RunPeerAsync(peer, transport))).Value;
        Assert.True(run.TryGetProperty(@case, out var result), $"{peer} printed no result for {@case}: {run}");
        var code = result.GetProperty("code").GetInt32();
        var details = result.GetProperty("details").GetString();
        var what = $"{peer}/{transport}/{@case}: {result}";
        output.WriteLine(what);
        switch (@case)
        {
            case "unary_ok":
                Assert.True(code == 0, what);
                Assert.Equal("hello ü", result.GetProperty("value").GetString());
                break;
            case "error_status":
                Assert.True(code == (int)StatusCode.InvalidArgument, what);
                Assert.Equal(ChannelTests.TrickyDetail, details);
                break;
            case "unknown_method":
                Assert.True(code == (int)StatusCode.Unimplemented, what);
                break;
            case "deadline":
                Assert.True(code == (int)StatusCode.DeadlineExceeded, what);
                break;
            case "too_large":
                Assert.True(code == (int)StatusCode.ResourceExhausted, what);
                break;
            case "server_stream":
                Assert.True(code == 0, what);
                Assert.Equal(["0", "1", "2", "3", "4"], result.GetProperty("value").EnumerateArray().Select(e => e.GetString()));
                break;
            case "health":
                Assert.True(code == 0, what);
                Assert.Equal("SERVING", result.GetProperty("value").GetString());
                break;
            case "health_unknown":
                Assert.True(code == (int)StatusCode.NotFound, what);
                break;
            case "after":
                Assert.True(code == 0, what);
                Assert.Equal("still there", result.GetProperty("value").GetString());
                break;
            default:
                Assert.Fail("unknown case " + @case);
                break;
        }
    }

    private async Task<JsonElement> RunPeerAsync(string peer, string transport)
    {
        var tls = transport == "tls";
        var target = $"127.0.0.1:{(tls ? server.TlsPort : server.H2cPort)}";
        var peers = Path.Combine(RepoPaths.Root, "tests", "peers");
        var env = new Dictionary<string, string> { ["DTRUST_TRICKY_DETAIL"] = ChannelTests.TrickyDetail };
        List<string> args;
        string tool;
        if (peer == "python")
        {
            // Debian's interpreter: the pyenv python3 first on PATH cannot see python3-grpcio.
            tool = "/usr/bin/python3";
            args = [Path.Combine(peers, "python", "peer.py"), target, Path.Combine(AppContext.BaseDirectory, "peers.pb")];
        }
        else
        {
            await NodePeers.EnsureInstalledAsync();
            tool = "node";
            args = [Path.Combine(peers, "node", "peer.js"), target, Path.Combine(RepoPaths.Root, "tests", "DTrust.Rpc.Tests", "Protos"), Path.Combine(RepoPaths.Root, "proto")];
        }

        if (tls)
        {
            args.Add(server.CaPemPath);
        }

        var result = await ProcessRunner.RunAsync(tool, args, env, timeout: TimeSpan.FromSeconds(120));
        result.EnsureSuccess($"{peer} peer over {transport}");
        return JsonDocument.Parse(result.StdOut).RootElement.Clone();
    }
}
