using System.Net;
using System.Text.RegularExpressions;

namespace DTrust.Server.Tests;

/// <summary>
/// The holder's approval page driven over plain HTTP, as a browser without script would: one cookie jar, the
/// anti-forgery token read from the form. The real-browser tests (chromium) cover script and rendering.
/// </summary>
internal sealed partial class HolderPage : IDisposable
{
    private readonly HttpClient _http;

    public HolderPage(Uri approvalUrl, string language = "en")
    {
        Url = approvalUrl;
        _http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false });
        _http.DefaultRequestHeaders.AcceptLanguage.ParseAdd(language);
    }

    public Uri Url { get; }

    /// <summary>The last page's HTML.</summary>
    public string Html { get; private set; } = "";

    public HttpResponseMessage? Last { get; private set; }

    public async Task<HttpStatusCode> OpenAsync()
    {
        Last = await _http.GetAsync(Url);
        Read(await Last.Content.ReadAsStringAsync());
        return Last.StatusCode;
    }

    public Task<HttpStatusCode> ApproveAsync(string pin, string? code) =>
        PostAsync(Url, new() { ["pin"] = pin, ["code"] = code ?? "", ["factor"] = code is null ? "" : "sms" });

    public Task<HttpStatusCode> RejectAsync() => PostAsync(new Uri(Url + "/reject"), []);

    public Task<HttpStatusCode> NewCodeAsync() => PostAsync(new Uri(Url + "/code"), []);

    public async Task<HttpStatusCode> PostAsync(Uri url, Dictionary<string, string> fields, bool withToken = true)
    {
        if (withToken)
        {
            fields["af"] = AntiForgery();
        }

        Last = await _http.PostAsync(url, new FormUrlEncodedContent(fields));
        Read(await Last.Content.ReadAsStringAsync());
        return Last.StatusCode;
    }

    /// <summary>The token of the last form seen (an error page has none; the form's token stays valid).</summary>
    public string AntiForgery() => _token ?? throw new InvalidOperationException("no form seen yet: " + Html);

    private string? _token;

    private void Read(string html)
    {
        Html = html;
        if (AntiForgeryField().Match(html) is { Success: true } m)
        {
            _token = WebUtility.HtmlDecode(m.Groups[1].Value);
        }
    }

    public void Dispose() => _http.Dispose();

    /// <summary>A POST the page's script makes (form-encoded, JSON back): the passkey steps.</summary>
    public async Task<(HttpStatusCode Status, string Json)> ScriptPostAsync(string path, Dictionary<string, string> fields)
    {
        fields["af"] = AntiForgery();
        using var response = await _http.PostAsync(new Uri(Url, path), new FormUrlEncodedContent(fields));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [GeneratedRegex("(?:name=\"af\" value|data-af)=\"([^\"]+)\"")]
    private static partial Regex AntiForgeryField();
}
