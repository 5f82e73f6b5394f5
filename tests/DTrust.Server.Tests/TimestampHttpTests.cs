using System.Net;
using System.Net.Http.Headers;
using DTrust.Testing;

namespace DTrust.Server.Tests;

/// <summary>POST /tsa against the real host, judged by openssl (an RFC 3161 implementation we did not write).</summary>
[Collection(ServerGroup.Name)]
public sealed class TimestampHttpTests(ServerFixture fixture) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dtrust-tsa-").FullName;
    private readonly HttpClient _http = new();

    private ServerProcess Server => fixture.Server;

    [Theory]
    [InlineData("-sha256", true)]
    [InlineData("-sha256", false)]
    [InlineData("-sha512", true)]
    public async Task Openssl_verifies_a_token_from_post_tsa(string digest, bool nonce)
    {
        var data = Path.Combine(_dir, "doc.txt");
        await File.WriteAllTextAsync(data, "contract v1 " + Guid.NewGuid());
        var query = Path.Combine(_dir, "req.tsq");
        await Openssl(["ts", "-query", "-data", data, digest, "-cert", .. nonce ? Array.Empty<string>() : ["-no_nonce"], "-out", query]);

        var reply = Path.Combine(_dir, "resp.tsr");
        using (var response = await PostTsa(await File.ReadAllBytesAsync(query)))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("application/timestamp-reply", response.Content.Headers.ContentType?.MediaType);
            await File.WriteAllBytesAsync(reply, await response.Content.ReadAsByteArrayAsync());
        }

        var text = (await Openssl(["ts", "-reply", "-in", reply, "-text"])).StdOut;
        Assert.Contains("Status: Granted.", text, StringComparison.Ordinal);
        Assert.Contains("Accuracy:", text, StringComparison.Ordinal);
        Assert.Contains(nonce ? "Nonce: 0x" : "Nonce: unspecified", text, StringComparison.Ordinal);

        var verify = await Openssl(
            ["ts", "-verify", "-data", data, "-in", reply, "-CAfile", Server.Pki("root.pem"), "-untrusted", Server.Pki("tsa.pem")]);
        Assert.Contains("Verification: OK", verify.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Garbage_gets_a_well_formed_rejection_and_the_server_keeps_serving()
    {
        using (var response = await PostTsa([0x30, 0x03, 0x02, 0x01]))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var reply = Path.Combine(_dir, "bad.tsr");
            await File.WriteAllBytesAsync(reply, await response.Content.ReadAsByteArrayAsync());
            var text = (await Openssl(["ts", "-reply", "-in", reply, "-text"])).StdOut;
            Assert.Contains("Status: Rejected.", text, StringComparison.Ordinal);
            Assert.Contains("the data submitted has the wrong format", text, StringComparison.Ordinal);  // badDataFormat
        }

        using var health = await _http.GetAsync(new Uri(Server.HttpAddress, "/healthz"));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task Wrong_content_type_is_refused_with_415()
    {
        using var content = new ByteArrayContent([1, 2, 3]);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var response = await _http.PostAsync(new Uri(Server.HttpAddress, "/tsa"), content);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
    }

    [Fact]
    public async Task Oversized_query_is_refused_with_413()
    {
        using var response = await PostTsa(new byte[200_000]);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    private async Task<HttpResponseMessage> PostTsa(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/timestamp-query");
        return await _http.PostAsync(new Uri(Server.HttpAddress, "/tsa"), content);
    }

    private static async Task<ProcessRunner.Result> Openssl(string[] args) =>
        (await ProcessRunner.RunAsync("openssl", args)).EnsureSuccess("openssl " + string.Join(' ', args));

    public void Dispose()
    {
        _http.Dispose();
        Directory.Delete(_dir, recursive: true);
    }
}
