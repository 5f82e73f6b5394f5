using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using DTrust.Client;
using DTrust.Signing.V1;
using Grpc.Core;

namespace DTrust.Server.Tests;

/// <summary>
/// <c>GET /metrics</c> on the shared server: real flows move the counters by exactly what they did, and nothing that
/// identifies a credential, a challenge, a caller or a tenant appears in the text. The tests of a collection run one
/// at a time, so the differences between two scrapes are this test's own.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed class MetricsTests(ServerFixture fixture)
{
    private const string SignHash = "service=\"dtrust.signing.v1.SigningService\",method=\"SignHash\"";

    private DTrustClient Operator() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("operator"));

    private DTrustClient Partner() => DTrustClient.Connect(fixture.Server.GrpcAddress, apiKey: fixture.Server.ApiKey("partner"));

    [Fact]
    public async Task A_signing_flow_counts_signatures_per_hash_otp_outcomes_and_latencies()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var before = await ScrapeAsync();

        // Signed: three hashes with the right code.
        var hashes = SigningFlowTests.Hashes(3, HashAlgorithmName.SHA256);
        var signed = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));
        var otp = await SigningFlowTests.OtpAsync(fixture.Server, signed.ChallengeId);
        await partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, signed, otp, hashes));

        // Refused: two hashes with a wrong code, then the same challenge with other hashes.
        var other = SigningFlowTests.Hashes(2, HashAlgorithmName.SHA256);
        var refused = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, other));
        var right = await SigningFlowTests.OtpAsync(fixture.Server, refused.ChallengeId);
        var wrong = right == "000000" ? "111111" : "000000";
        await CredentialLifecycleTests.AssertRefused(
            StatusCode.PermissionDenied, partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, refused, wrong, other)));
        await CredentialLifecycleTests.AssertRefused(
            StatusCode.PermissionDenied, partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, refused, right, hashes[..2])));

        var after = await ScrapeAsync();
        var text = after.Text;
        Assert.Equal(3, after.Delta(before, "dtrust_signatures_total{level=\"qualified\",format=\"raw\",outcome=\"signed\"}"));
        Assert.Equal(4, after.Delta(before, "dtrust_signatures_total{level=\"qualified\",format=\"raw\",outcome=\"refused\"}"));
        Assert.Equal(0, after.Delta(before, "dtrust_signatures_total{level=\"qualified\",format=\"raw\",outcome=\"failed\"}"));
        Assert.Equal(0, after.Delta(before, "dtrust_signatures_total{level=\"advanced\",format=\"raw\",outcome=\"signed\"}"));
        Assert.Equal(2, after.Delta(before, "dtrust_authorizations_total{level=\"qualified\",outcome=\"authorized\"}"));
        Assert.Equal(2, after.Delta(before, "dtrust_otp_total{outcome=\"sent\"}"));
        Assert.Equal(1, after.Delta(before, "dtrust_otp_total{outcome=\"accepted\"}"));
        Assert.Equal(1, after.Delta(before, "dtrust_otp_total{outcome=\"wrong\"}"));
        Assert.Equal(1, after.Delta(before, "dtrust_otp_total{outcome=\"hashes_differ\"}"));
        Assert.Equal(0, after.Delta(before, "dtrust_otp_total{outcome=\"exhausted\"}"));

        // Latencies: one observation per call, labelled by method and status code only.
        Assert.Equal(1, after.Delta(before, $"dtrust_rpc_duration_seconds_count{{{SignHash},code=\"OK\"}}"));
        Assert.Equal(2, after.Delta(before, $"dtrust_rpc_duration_seconds_count{{{SignHash},code=\"PERMISSION_DENIED\"}}"));
        Assert.Equal(2, after.Delta(before,
            "dtrust_rpc_duration_seconds_count{service=\"dtrust.signing.v1.SigningService\",method=\"AuthorizeSignature\",code=\"OK\"}"));
        Assert.Equal(1, after.Delta(before, $"dtrust_rpc_duration_seconds_bucket{{{SignHash},code=\"OK\",le=\"+Inf\"}}"));
        Assert.InRange(after.Delta(before, $"dtrust_rpc_duration_seconds_sum{{{SignHash},code=\"OK\"}}"), 1e-6, 30);
        Assert.Equal(2, after.Delta(before, "dtrust_redis_duration_seconds_count{operation=\"create\"}"));
        Assert.Equal(3, after.Delta(before, "dtrust_redis_duration_seconds_count{operation=\"consume\"}"));

        // Store: at least the two authorizations, three signatures and two refusals were appended durably.
        Assert.InRange(after.Delta(before, "dtrust_store_duration_seconds_count{operation=\"audit_append\"}"), 7, 1000);
        Assert.InRange(after.Delta(before, "dtrust_store_duration_seconds_count{operation=\"audit_commit\"}"), 1, 1000);
        Assert.InRange(after.Delta(before, "dtrust_store_duration_seconds_count{operation=\"credential_read\"}"), 5, 1000);

        // The vault's pools, one series per domain, exported from its System.Diagnostics.Metrics meter.
        foreach (var domain in new[] { "simple", "advanced", "qualified", "seal-qualified", "seal-advanced", "tsa" })
        {
            Assert.True(after.Value($"dtrust_keyvault_sessions_in_use{{domain=\"{domain}\"}}") >= 0);
            Assert.True(after.Value($"dtrust_keyvault_sessions_capacity{{domain=\"{domain}\"}}") >= 1);
            Assert.True(after.Value($"dtrust_keyvault_session_waits{{domain=\"{domain}\"}}") >= 0);
        }

        // Nothing that names a credential, a challenge, a holder, a caller or a tenant.
        Assert.DoesNotContain(credential.CredentialId, text, StringComparison.Ordinal);
        Assert.DoesNotContain(credential.UserId, text, StringComparison.Ordinal);
        Assert.DoesNotContain(signed.ChallengeId, text, StringComparison.Ordinal);
        Assert.DoesNotContain(refused.ChallengeId, text, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Server.ApiKey("partner"), text, StringComparison.Ordinal);
        Assert.DoesNotContain(fixture.Server.ApiKey("operator"), text, StringComparison.Ordinal);
        Assert.DoesNotContain("\"dev\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Time_stamp_tokens_are_counted_for_clients_and_for_signatures()
    {
        using var op = Operator();
        using var partner = Partner();
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Advanced);
        var before = await ScrapeAsync();

        // Two CAdES signatures with a signature-time-stamp each.
        var hashes = SigningFlowTests.Hashes(2, HashAlgorithmName.SHA256);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes));
        var request = SigningFlowTests.SignRequest(
            credential, challenge, await SigningFlowTests.OtpAsync(fixture.Server, challenge.ChallengeId), hashes, format: SignatureFormat.CmsDetached);
        request.Timestamp = true;
        await partner.Signing.SignHashAsync(request);

        // A client's query over HTTP, and one the TSA rejects (SHA-1 imprint).
        using var http = new HttpClient();
        foreach (var hash in new[] { HashAlgorithmName.SHA256, HashAlgorithmName.SHA1 })
        {
            using var query = new ByteArrayContent(Rfc3161TimestampRequest.CreateFromData("metrics"u8, hash, requestSignerCertificates: true).Encode());
            query.Headers.TryAddWithoutValidation("content-type", "application/timestamp-query");
            using var answer = await http.PostAsync(new Uri(fixture.Server.HttpAddress, "/tsa"), query);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        }

        var after = await ScrapeAsync();
        Assert.Equal(2, after.Delta(before, "dtrust_signatures_total{level=\"advanced\",format=\"cades\",outcome=\"signed\"}"));
        Assert.Equal(2, after.Delta(before, "dtrust_tsa_tokens_total{source=\"signature\",outcome=\"granted\"}"));
        Assert.Equal(1, after.Delta(before, "dtrust_tsa_tokens_total{source=\"request\",outcome=\"granted\"}"));
        Assert.Equal(1, after.Delta(before, "dtrust_tsa_tokens_total{source=\"request\",outcome=\"rejected\"}"));
        Assert.Equal(0, after.Delta(before, "dtrust_tsa_tokens_total{source=\"request\",outcome=\"failed\"}"));
    }

    [Fact]
    public async Task Metrics_are_prometheus_text_on_the_admin_listener()
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync(new Uri(fixture.Server.AdminAddress, "/metrics"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("# TYPE dtrust_signatures_total counter", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE dtrust_rpc_duration_seconds histogram", text, StringComparison.Ordinal);

        // Milliseconds-scale buckets, from 0.25 ms up.
        Assert.Contains("le=\"0.00025\"", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_method_path_in_another_casing_adds_no_series_of_its_own()
    {
        // Routing ignores case, so a client can reach a method under paths nobody declared; the label must stay
        // the declared name, or every invented casing becomes a series (unbounded, chosen by the caller).
        using var raw = new RawGrpc();
        var answer = await raw.PostAsync(fixture.Server.GrpcAddress, "/DTRUST.TSA.V1.TIMESTAMPSERVICE/TIMESTAMP", RawGrpc.Frame([]));
        using var http = new HttpClient();
        var text = await http.GetStringAsync(new Uri(fixture.Server.AdminAddress, "/metrics"));

        Assert.DoesNotContain("TIMESTAMPSERVICE", text, StringComparison.Ordinal);

        // It was routed to the method (anonymous, as the declared path is: access follows the endpoint, not the
        // casing), which refused the empty request, and counted under the declared name.
        Assert.Equal("3", answer.GrpcStatus);
        Assert.Contains("method=\"Timestamp\",code=\"INVALID_ARGUMENT\"", text, StringComparison.Ordinal);
    }

    private async Task<Scrape> ScrapeAsync()
    {
        using var http = new HttpClient();
        return new Scrape(await http.GetStringAsync(new Uri(fixture.Server.AdminAddress, "/metrics")));
    }

    /// <summary>One scrape: each sample line's series (name and labels, as written) and value.</summary>
    private sealed class Scrape
    {
        private readonly Dictionary<string, double> _samples = new(StringComparer.Ordinal);

        public Scrape(string text)
        {
            Text = text;
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                if (!line.StartsWith('#'))
                {
                    var space = line.LastIndexOf(' ');
                    _samples[line[..space]] = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture);
                }
            }
        }

        public string Text { get; }

        public double Value(string series) =>
            _samples.TryGetValue(series, out var value) ? value : throw new KeyNotFoundException($"no series {series} in /metrics");

        /// <summary>How much <paramref name="series"/> grew since <paramref name="earlier"/> (absent there: from 0).</summary>
        public double Delta(Scrape earlier, string series) => Value(series) - earlier._samples.GetValueOrDefault(series);
    }
}
