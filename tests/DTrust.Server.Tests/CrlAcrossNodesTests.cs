using System.Diagnostics;
using System.Numerics;
using System.Security.Cryptography.X509Certificates;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;

namespace DTrust.Server.Tests;

/// <summary>
/// Two nodes on one PostgreSQL store (the documented scale-out set-up): a revocation made through one node is on the
/// CRL the other node serves within seconds, and both serve the same CRL, byte for byte, with the same number. Before
/// the CRLs went into the store, the other node kept serving its own cached CRL until its hourly refresh.
/// </summary>
public sealed class CrlAcrossNodesTests
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task A_revocation_on_one_node_is_on_the_same_crl_on_both_nodes_within_seconds()
    {
        await using var postgres = await PostgresServer.StartAsync();
        var env = new Dictionary<string, string>
        {
            ["DTrust__Store__Engine"] = "postgres",
            ["DTrust__Store__ConnectionString"] = await postgres.CreateDatabaseAsync(),
        };
        await using var a = await ServerProcess.StartAsync(env);
        await using var b = await ServerProcess.StartAsync(env, a.StateDir, a.Redis);
        using var http = new HttpClient();

        // Both nodes serve the same CRL from the start (the second adopts the first's at its start-up).
        var (startA, startB) = await SameCrlAsync(http, a, b, _ => true);
        Assert.Equal(startA, startB);

        using var op = DTrustClient.Connect(a.GrpcAddress, apiKey: a.ApiKey("operator"));
        var user = await CredentialLifecycleTests.NewHolderAsync(op);
        var (credential, _) = await CredentialLifecycleTests.EnrolAsync(op, user, Level.Qualified);
        var serial = X509CertificateLoader.LoadCertificate(credential.Certificate.Span).SerialNumberBytes.ToArray();
        Assert.False(Lists(startB, serial));

        // Node B has served (and cached) its CRL; the revocation goes through node A.
        await op.Credentials.RevokeCredentialAsync(
            new RevokeCredentialRequest { CredentialId = credential.CredentialId, Reason = RevocationReason.KeyCompromise });
        var clock = Stopwatch.StartNew();
        var (crlA, crlB) = await SameCrlAsync(http, a, b, der => Lists(der, serial));
        Assert.True(clock.Elapsed < Within, $"took {clock.Elapsed.TotalSeconds:0.0}s");
        Assert.Equal(crlA, crlB);
        Assert.True(Number(crlB) > Number(startB));
    }

    /// <summary>Polls both nodes until they serve the same CRL that satisfies <paramref name="wanted"/>.</summary>
    private static async Task<(byte[] A, byte[] B)> SameCrlAsync(HttpClient http, ServerProcess a, ServerProcess b, Func<byte[], bool> wanted)
    {
        var deadline = DateTime.UtcNow + Within;
        byte[] crlA = [], crlB = [];
        while (DateTime.UtcNow < deadline)
        {
            crlA = await http.GetByteArrayAsync(new Uri(a.HttpAddress, "/crl/qualified.crl"));
            crlB = await http.GetByteArrayAsync(new Uri(b.HttpAddress, "/crl/qualified.crl"));
            if (wanted(crlA) && wanted(crlB) && crlA.AsSpan().SequenceEqual(crlB))
            {
                return (crlA, crlB);
            }

            await Task.Delay(250);
        }

        Assert.Fail($"the nodes did not serve the same wanted CRL within {Within.TotalSeconds}s: A number {Number(crlA)}, B number {Number(crlB)}");
        return default;
    }

    private static BigInteger Number(byte[] der)
    {
        CertificateRevocationListBuilder.Load(der, out var number);
        return number;
    }

    private static bool Lists(byte[] der, byte[] serial) => CertificateRevocationListBuilder.Load(der, out _).RemoveEntry(serial);
}
