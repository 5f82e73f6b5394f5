using System.Globalization;
using DTrust.Testing;

namespace DTrust.Server.Tests;

/// <summary>The standard gRPC health check, asked by Debian's python3-grpcio.</summary>
[Collection(ServerGroup.Name)]
public sealed class HealthTests(ServerFixture fixture)
{
    private static string Script => Path.Combine(RepoPaths.Root, "tests", "DTrust.Server.Tests", "Peers", "health_check.py");

    [Fact]
    public async Task Python_grpcio_sees_serving()
    {
        var target = "127.0.0.1:" + fixture.Server.GrpcPort.ToString(CultureInfo.InvariantCulture);
        var r = await ProcessRunner.RunAsync("/usr/bin/python3", [Script, target]);
        Assert.True(r.ExitCode == 0, r.StdErr + r.StdOut);
        Assert.Equal("SERVING", r.StdOut.Trim());
    }

    [Fact]
    public async Task Python_grpcio_gets_not_found_for_an_unknown_service()
    {
        var target = "127.0.0.1:" + fixture.Server.GrpcPort.ToString(CultureInfo.InvariantCulture);
        var r = await ProcessRunner.RunAsync("/usr/bin/python3", [Script, target, "no.such.Service"]);
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("NOT_FOUND", r.StdOut.Trim(), StringComparison.Ordinal);
    }
}
