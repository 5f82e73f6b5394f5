using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace DTrust.Server.Tests;

/// <summary>
/// A CSC API client written in the tests from the specification's request shapes (v1.0.4.0 and v2): JSON bodies by
/// hand, so that what goes over the wire is what a third-party client sends, not what our server happens to like.
/// </summary>
internal sealed class CscClient(Uri baseAddress, string? apiKey) : IDisposable
{
    private readonly HttpClient _http = Create(apiKey);

    private static HttpClient Create(string? apiKey)
    {
        var http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false });
        if (apiKey is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }

        return http;
    }

    /// <summary>POST {base}/csc/{version}/{method} with a JSON body; the status and the parsed answer (null if none).</summary>
    public Task<(HttpStatusCode Status, JsonNode? Body)> CallAsync(string version, string method, JsonObject? body) =>
        SendAsync(version, method, body?.ToJsonString() ?? "", "application/json");

    public async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(string version, string method, string body, string contentType)
    {
        using var content = new StringContent(body, Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        using var response = await _http.PostAsync(new Uri(baseAddress, $"/csc/{version}/{method}"), content);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    /// <summary>The body of a successful call; anything else fails the test with the CSC error.</summary>
    public async Task<JsonNode> OkAsync(string version, string method, JsonObject? body)
    {
        var (status, answer) = await CallAsync(version, method, body);
        Assert.True(status == HttpStatusCode.OK, $"{method}: {(int)status} {answer?.ToJsonString()}");
        return answer!;
    }

    /// <summary>A refused call: the status, CSC's error code and the description.</summary>
    public async Task<(HttpStatusCode Status, string Error, string Description)> RefusedAsync(string version, string method, JsonObject? body)
    {
        var (status, answer) = await CallAsync(version, method, body);
        Assert.True((int)status >= 400, $"{method} was not refused: {answer?.ToJsonString()}");
        return (status, answer!["error"]!.GetValue<string>(), answer["error_description"]!.GetValue<string>());
    }

    /// <summary>oauth2/par (RFC 9126) with this client's API key: the request_uri, or CSC's error.</summary>
    public async Task<(HttpStatusCode Status, JsonNode Body)> ParAsync(Dictionary<string, string> parameters)
    {
        using var form = new FormUrlEncodedContent(parameters);
        using var response = await _http.PostAsync(new Uri(baseAddress, "/csc/v2/oauth2/par"), form);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    /// <summary>oauth2/token with the authorization code, client authentication in the form (client_secret_post).</summary>
    public async Task<(HttpStatusCode Status, JsonNode Body)> TokenAsync(
        string clientId, string clientSecret, string code, string verifier, string redirectUri)
    {
        using var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["code"] = code,
            ["client_id"] = clientId,
            ["client_secret"] = clientSecret,
            ["redirect_uri"] = redirectUri,
            ["code_verifier"] = verifier,
        });
        // Client authentication is the form's alone: a default Authorization header would be a second method.
        using var http = new HttpClient();
        using var response = await http.PostAsync(new Uri(baseAddress, "/csc/v2/oauth2/token"), form);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    public void Dispose() => _http.Dispose();

    public static JsonArray Strings(IEnumerable<string> values) => [.. values.Select(v => (JsonNode?)JsonValue.Create(v))];

    public static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>A PKCE pair (RFC 7636, S256).</summary>
    public static (string Verifier, string Challenge) Pkce()
    {
        var verifier = Base64Url(RandomNumberGenerator.GetBytes(32));
        return (verifier, Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier))));
    }
}
