using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace DTrust.Server.Tests;

/// <summary>
/// The production code path to the holder's phone: the server posts to an SMS gateway over HTTPS (here a small
/// gateway in the test process, its certificate from a CA made for the test and configured as the gateway's CA).
/// Delivery, a retry after a refusal, and a gateway that never answers (UNAVAILABLE, no challenge left in Redis).
/// </summary>
[Collection(WebhookGroup.Name)]
public sealed partial class WebhookOtpTests(WebhookFixture fixture)
{
    [Fact]
    public async Task The_code_reaches_the_gateway_over_tls_with_the_configured_authorization_and_signs()
    {
        fixture.Gateway.Behaviour = _ => HttpStatusCode.OK;
        var (partner, credential, hashes) = await fixture.QualifiedAsync();
        var before = fixture.Gateway.Received.Count;

        var challenge = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes, DTrust.Signing.V1.HashAlgorithm.Sha256));

        var sms = fixture.Gateway.Received.Skip(before).Single();
        Assert.Equal("Bearer gateway-secret", sms.Authorization);
        Assert.Equal("+4930123456", sms.To);
        Assert.Contains("DTrust: dev-partner asks you to sign 1 document(s)", sms.Text, StringComparison.Ordinal);
        var code = CodeIn(sms.Text);
        var signed = await partner.Signing.SignHashAsync(SigningFlowTests.SignRequest(credential, challenge, code, hashes, DTrust.Signing.V1.HashAlgorithm.Sha256));
        Assert.Single(signed.Signatures);
    }

    [Fact]
    public async Task A_refusing_gateway_is_retried_with_backoff_until_it_takes_the_message()
    {
        var calls = 0;
        fixture.Gateway.Behaviour = _ => Interlocked.Increment(ref calls) == 1 ? HttpStatusCode.ServiceUnavailable : HttpStatusCode.OK;
        var (partner, credential, hashes) = await fixture.QualifiedAsync();
        var before = fixture.Gateway.Received.Count;

        var challenge = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes, DTrust.Signing.V1.HashAlgorithm.Sha256));

        var tries = fixture.Gateway.Received.Skip(before).ToList();
        Assert.Equal(2, tries.Count);
        Assert.Equal(tries[0].Text, tries[1].Text);
        // The standard handler's backoff is jittered around 2 s and its first delay can be far shorter (decorrelated
        // jitter): 20 ms tells a delayed retry from an immediate one (about 1 ms over loopback) without flaking.
        Assert.True(tries[1].At - tries[0].At >= TimeSpan.FromMilliseconds(20), "the retry came without backoff");
        var signed = await partner.Signing.SignHashAsync(
            SigningFlowTests.SignRequest(credential, challenge, CodeIn(tries[1].Text), hashes, DTrust.Signing.V1.HashAlgorithm.Sha256));
        Assert.Single(signed.Signatures);
    }

    [Fact]
    public async Task A_gateway_that_never_answers_is_unavailable_and_leaves_no_challenge()
    {
        var (partner, credential, hashes) = await fixture.QualifiedAsync();
        fixture.Gateway.Behaviour = _ => null; // hang until the server gives up
        try
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() =>
                partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes, DTrust.Signing.V1.HashAlgorithm.Sha256)).ResponseAsync);
            Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
            Assert.Equal("the one-time code could not be sent; retry", refused.Status.Detail);
        }
        finally
        {
            fixture.Gateway.Behaviour = _ => HttpStatusCode.OK;
        }

        // Nothing of the authorization is left to consume: no key of this credential in Redis.
        var redis = await ConnectionMultiplexer.ConnectAsync(fixture.Server.Redis.AuthenticatedConfiguration);
        await using (redis)
        {
            var server = redis.GetServer(redis.GetEndPoints()[0]);
            var keys = server.Keys(pattern: $"*{credential.CredentialId}*challenge*").ToList();
            Assert.Empty(keys);
        }

        // The server is still serving, and the next authorization goes through.
        var next = await partner.Signing.AuthorizeSignatureAsync(SigningFlowTests.AuthorizeRequest(credential, hashes, DTrust.Signing.V1.HashAlgorithm.Sha256));
        Assert.False(string.IsNullOrEmpty(next.ChallengeId));
    }

    private static string CodeIn(string text) => CodeRegex().Match(text) is { Success: true } m
        ? m.Groups[1].Value
        : throw new InvalidOperationException("no code in the message: " + text);

    [GeneratedRegex(@"Code ([0-9]{6,})")]
    private static partial Regex CodeRegex();
}

/// <summary>An SMS gateway over HTTPS that records each message and answers as the test tells it.</summary>
public sealed class SmsGateway : IAsyncDisposable
{
    private readonly WebApplication _app;

    private SmsGateway(WebApplication app, int port, string caFile)
    {
        _app = app;
        Url = $"https://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/send";
        CaFile = caFile;
    }

    public sealed record Message(string? Authorization, string To, string Text, DateTimeOffset At);

    public string Url { get; }

    public string CaFile { get; }

    public ConcurrentQueue<Message> Received { get; } = new();

    /// <summary>The answer to the next message; null never answers (until the client gives up).</summary>
    public Func<Message, HttpStatusCode?> Behaviour { get; set; } = _ => HttpStatusCode.OK;

    public static async Task<SmsGateway> StartAsync(string dir)
    {
        // A CA of the test and a server certificate for 127.0.0.1; the server under test trusts only that CA.
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=DTrust test gateway CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=sms-gateway", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddMinutes(-5), ca.NotAfter.ToUniversalTime().AddMinutes(-1), [1, 2, 3, 4]);
        var tls = X509CertificateLoader.LoadPkcs12(issued.CopyWithPrivateKey(key).Export(X509ContentType.Pkcs12), null);
        var caFile = Path.Combine(dir, "gateway-ca.pem");
        await File.WriteAllTextAsync(caFile, ca.ExportCertificatePem() + "\n");

        var port = RedisServer.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.UseHttps(tls)));
        var app = builder.Build();
        var gateway = new SmsGateway(app, port, caFile);
        app.MapPost("/send", async (HttpContext http) =>
        {
            using var body = await JsonDocument.ParseAsync(http.Request.Body);
            var message = new Message(
                http.Request.Headers.Authorization.ToString(),
                body.RootElement.GetProperty("to").GetString()!,
                body.RootElement.GetProperty("text").GetString()!,
                DateTimeOffset.UtcNow);
            gateway.Received.Enqueue(message);
            if (gateway.Behaviour(message) is { } status)
            {
                return Results.StatusCode((int)status);
            }

            await Task.Delay(Timeout.Infinite, http.RequestAborted);
            return Results.StatusCode(500);
        });
        await app.StartAsync();
        return gateway;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}

/// <summary>A development server whose codes go to <see cref="SmsGateway"/> instead of the outbox.</summary>
public sealed partial class WebhookFixture : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("dtrust-webhook-").FullName;
    private ServerProcess? _server;
    private SmsGateway? _gateway;

    public ServerProcess Server => _server ?? throw new InvalidOperationException("not started");

    public SmsGateway Gateway => _gateway ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync()
    {
        _gateway = await SmsGateway.StartAsync(_dir);
        var authorization = Path.Combine(_dir, "gateway.auth");
        await File.WriteAllTextAsync(authorization, "Bearer gateway-secret\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(authorization, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        _server = await ServerProcess.StartAsync(new Dictionary<string, string>
        {
            ["DTrust__Signing__OtpSender"] = "webhook",
            ["DTrust__Signing__Webhook__Url"] = _gateway.Url,
            ["DTrust__Signing__Webhook__CaFile"] = _gateway.CaFile,
            ["DTrust__Signing__Webhook__AuthorizationFile"] = authorization,
            // Short enough for the hanging gateway's test, long enough for a fresh node's first TLS call to the
            // gateway while the whole suite loads two cores (1 s per attempt timed out there: enrolment failed).
            ["DTrust__Signing__Webhook__TimeoutSeconds"] = "3",
        });
    }

    /// <summary>An active QUALIFIED credential (its code always goes to the phone) and one hash to sign.</summary>
    public async Task<(DTrustClient Partner, Credential Credential, Google.Protobuf.ByteString[] Hashes)> QualifiedAsync()
    {
        using var op = DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("operator"));
        var user = await CredentialLifecycleTests.NewHolderAsync(op, phone: "+4930123456");

        // Production mode: the transport PIN goes to the gateway too, not to an outbox.
        var behaviour = Gateway.Behaviour;
        Gateway.Behaviour = _ => HttpStatusCode.OK;
        var enrolled = await op.Credentials.EnrollCredentialAsync(
            new EnrollCredentialRequest { UserId = user, Level = Level.Qualified, KeyAlgorithm = KeyAlgorithm.EcP256 });
        Gateway.Behaviour = behaviour;
        var letter = Gateway.Received.Last(m => m.Text.Contains("transport PIN", StringComparison.Ordinal));
        Assert.Equal("+4930123456", letter.To);
        var pin = TransportPinIn().Match(letter.Text).Groups[1].Value;
        var credential = await op.Credentials.ActivateCredentialAsync(new ActivateCredentialRequest
        {
            CredentialId = enrolled.Credential.CredentialId,
            TransportPin = pin,
            ActivationPin = SigningFlowTests.Pin,
        });
        var partner = DTrustClient.Connect(Server.GrpcAddress, apiKey: Server.ApiKey("partner"));
        return (partner, credential, SigningFlowTests.Hashes(1, HashAlgorithmName.SHA256));
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"transport PIN of your new \w+ signing credential is ([0-9]+)\.")]
    private static partial System.Text.RegularExpressions.Regex TransportPinIn();

    public async Task DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        Directory.Delete(_dir, recursive: true);
    }
}

[CollectionDefinition(Name)]
public sealed class WebhookGroup : ICollectionFixture<WebhookFixture>
{
    public const string Name = "webhook";
}
