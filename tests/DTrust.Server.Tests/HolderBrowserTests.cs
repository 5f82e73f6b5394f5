using System.Security.Cryptography;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;
using PuppeteerSharp;

namespace DTrust.Server.Tests;

/// <summary>
/// The holder's pages in a real browser: Debian's chromium, headless, driven over DevTools, with its own WebAuthn
/// virtual authenticator (CTAP2, internal, user verification) on <c>http://localhost:port</c>. Pairs a passkey,
/// approves two documents with it, and the partner's CAdES verifies with openssl; the same with PIN and SMS code in
/// German at phone width; and the page refuses to render inside another origin's frame. Screenshots go to docs/.
/// </summary>
[Collection(HolderServerGroup.Name)]
public sealed class HolderBrowserTests(HolderServerFixture fixture)
{
    private const string Pin = SigningFlowTests.Pin;

    private ServerProcess Server => fixture.Server;

    internal static async Task<IBrowser> LaunchAsync(params string[] extra) => await Puppeteer.LaunchAsync(new LaunchOptions
    {
        ExecutablePath = ProcessRunner.RequireTool("chromium"),
        Headless = true,

        // As root chromium needs --no-sandbox; the pages under test are our own.
        Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", .. extra],
    });

    internal static async Task<IPage> PhoneAsync(IBrowser browser, string language)
    {
        var page = await browser.NewPageAsync();
        await page.SetViewportAsync(new ViewPortOptions { Width = 390, Height = 844, DeviceScaleFactor = 2, IsMobile = true });
        await page.SetExtraHttpHeadersAsync(new Dictionary<string, string> { ["Accept-Language"] = language });
        return page;
    }

    private static async Task<(ByteString[] Hashes, string[] Files)> DocumentsAsync(string dir, int count)
    {
        var files = Enumerable.Range(1, count).Select(i => Path.Combine(dir, $"contract-{i}.txt")).ToArray();
        foreach (var f in files)
        {
            await File.WriteAllTextAsync(f, "loan agreement " + Guid.NewGuid());
        }

        return ([.. files.Select(f => ByteString.CopyFrom(SHA256.HashData(File.ReadAllBytes(f))))], files);
    }

    private async Task VerifyWithOpensslAsync(SignHashResponse signed, string[] files)
    {
        for (var i = 0; i < files.Length; i++)
        {
            await File.WriteAllBytesAsync(files[i] + ".p7s", signed.Signatures[i].ToByteArray());
            var verify = await ProcessRunner.RunAsync("openssl",
                ["cms", "-verify", "-binary", "-content", files[i], "-inform", "DER", "-in", files[i] + ".p7s", "-CAfile", Server.Pki("root.pem"), "-out", "/dev/null"]);
            Assert.True(verify.ExitCode == 0, verify.StdErr);
        }
    }

    private static string Screenshot(string name)
    {
        var docs = Path.Combine(RepoPaths.Root, "docs", "holder");
        Directory.CreateDirectory(docs);
        return Path.Combine(docs, name);
    }

    [Fact]
    public async Task A_holder_pairs_a_passkey_in_chromium_and_approves_two_documents_with_it()
    {
        using var op = DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("operator"));
        using var partner = DTrustClient.Connect(Server.GrpcAddress, apiKey: fixture.PartnerKey);
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var user = (await op.Credentials.GetCredentialAsync(new GetCredentialRequest { CredentialId = credential.CredentialId })).UserId;
        var dir = Directory.CreateTempSubdirectory("dtrust-browser-").FullName;
        await using var browser = await LaunchAsync();
        try
        {
            var page = await PhoneAsync(browser, "en-GB,en;q=0.9");
            var devtools = await page.CreateCDPSessionAsync();
            await devtools.SendAsync("WebAuthn.enable");
            await devtools.SendAsync("WebAuthn.addVirtualAuthenticator", new
            {
                options = new { protocol = "ctap2", transport = "internal", hasResidentKey = true, hasUserVerification = true, isUserVerified = true },
            });

            var link = await op.Credentials.CreatePairingLinkAsync(new CreatePairingLinkRequest { UserId = user });
            await page.GoToAsync(link.Url);
            await page.TypeAsync("#device-name", "Erika's phone");
            await page.ClickAsync("#pair");
            await page.WaitForSelectorAsync(".message.ok", new WaitForSelectorOptions { Timeout = 15_000 });
            await page.ScreenshotAsync(Screenshot("pairing-en.png"));
            Assert.Single((await op.Credentials.ListPasskeysAsync(new ListPasskeysRequest { UserId = user })).Passkeys);

            var (hashes, files) = await DocumentsAsync(dir, 2);
            var authorization = await partner.Signing.AuthorizeSignatureAsync(HolderApprovalTests.HolderRequest(credential, hashes));
            await page.GoToAsync(authorization.ApprovalUrl);
            Assert.Contains("Loan Platform GmbH asks you to sign", await page.GetContentAsync(), StringComparison.Ordinal);
            await page.ScreenshotAsync(Screenshot("approval-en.png"), new ScreenshotOptions { FullPage = true });

            // Keyboard only: focus starts in the PIN field.
            await page.Keyboard.TypeAsync(Pin);
            await page.ClickAsync("#passkey");
            await page.WaitForSelectorAsync(".message.ok", new WaitForSelectorOptions { Timeout = 15_000 });

            var approved = await partner.Signing.GetAuthorizationAsync(new GetAuthorizationRequest
            {
                CredentialId = credential.CredentialId,
                AuthorizationId = authorization.AuthorizationId,
            });
            Assert.Equal((AuthorizationState.Approved, "passkey"), (approved.State, approved.Factor));
            var signed = await partner.Signing.SignHashAsync(HolderApprovalTests.SadRequest(credential, authorization.AuthorizationId, approved.Sad, hashes));
            await VerifyWithOpensslAsync(signed, files);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task A_holder_approves_with_pin_and_sms_code_in_german_at_phone_width()
    {
        using var op = DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("operator"));
        using var partner = DTrustClient.Connect(Server.GrpcAddress, apiKey: fixture.PartnerKey);
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var dir = Directory.CreateTempSubdirectory("dtrust-browser-").FullName;
        await using var browser = await LaunchAsync();
        try
        {
            var (hashes, files) = await DocumentsAsync(dir, 2);
            var authorization = await partner.Signing.AuthorizeSignatureAsync(HolderApprovalTests.HolderRequest(credential, hashes));
            var page = await PhoneAsync(browser, "de-DE,de;q=0.9");
            await page.GoToAsync(authorization.ApprovalUrl);
            Assert.Contains("bittet Sie um Ihre Unterschrift", await page.GetContentAsync(), StringComparison.Ordinal);
            await page.ScreenshotAsync(Screenshot("approval-de.png"), new ScreenshotOptions { FullPage = true });

            await page.TypeAsync("#pin", Pin);
            await page.TypeAsync("#code", await ServerProcess.OutboxCodeAsync(Server.StateDir, authorization.AuthorizationId));
            await Task.WhenAll(page.WaitForNavigationAsync(), page.ClickAsync("button[type=submit]"));
            Assert.Contains("Freigegeben", await page.GetContentAsync(), StringComparison.Ordinal);

            var approved = await partner.Signing.GetAuthorizationAsync(new GetAuthorizationRequest
            {
                CredentialId = credential.CredentialId,
                AuthorizationId = authorization.AuthorizationId,
            });
            Assert.Equal((AuthorizationState.Approved, "sms"), (approved.State, approved.Factor));
            await VerifyWithOpensslAsync(
                await partner.Signing.SignHashAsync(HolderApprovalTests.SadRequest(credential, authorization.AuthorizationId, approved.Sad, hashes)), files);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task The_page_inside_another_origins_frame_is_not_rendered()
    {
        using var op = DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("operator"));
        using var partner = DTrustClient.Connect(Server.GrpcAddress, apiKey: fixture.PartnerKey);
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified);
        var authorization = await partner.Signing.AuthorizeSignatureAsync(
            HolderApprovalTests.HolderRequest(credential, SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256)));
        // Frames in the page's own process, so that DevTools shows what the framed document became.
        await using var browser = await LaunchAsync("--disable-site-isolation-trials", "--disable-features=IsolateOrigins,site-per-process");
        var page = await browser.NewPageAsync();

        // A partner's (or phisher's) page on another origin that frames ours to overlay it (clickjacking), served
        // from this machine (Chromium keeps public origins from framing local servers at all).
        var port = RedisServer.FreePort();
        using var attacker = new System.Net.HttpListener();
        attacker.Prefixes.Add($"http://127.0.0.1:{port}/");
        attacker.Start();
        var html = System.Text.Encoding.UTF8.GetBytes(
            $"<h1>partner</h1><iframe src=\"{authorization.ApprovalUrl}\"></iframe><iframe src=\"{Server.HttpAddress}healthz\"></iframe>");
        var serve = Task.Run(async () =>
        {
            var context = await attacker.GetContextAsync();
            context.Response.ContentType = "text/html";
            await context.Response.OutputStream.WriteAsync(html);
            context.Response.Close();
        });
        await page.GoToAsync($"http://127.0.0.1:{port}/");
        await serve;
        await Task.Delay(2000);

        // The control: a page without our policy (the public health answer) does render in a frame here; ours
        // is refused by Chromium for its frame-ancestors policy and shows nothing of the page.
        var frames = page.Frames.Where(f => f != page.MainFrame).ToList();
        Assert.Equal(2, frames.Count);
        var texts = new List<string>();
        foreach (var frame in frames)
        {
            texts.Add(await frame.EvaluateExpressionAsync<string>("document.body ? document.body.innerText : ''"));
        }

        Assert.Contains(texts, t => t.Contains("status", StringComparison.Ordinal));
        Assert.DoesNotContain(texts, t => t.Contains("asks you to sign", StringComparison.Ordinal) || t.Contains("PIN", StringComparison.Ordinal));
    }
}
