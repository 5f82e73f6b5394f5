using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using DTrust.KeyVault;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using HashAlgorithm = DTrust.Signing.V1.HashAlgorithm;
using KeyAlgorithm = DTrust.Signing.V1.KeyAlgorithm;

namespace DTrust.Benchmarks.Server;

/// <summary>
/// The latency a partner sees for one signature: AuthorizeSignature, the one-time code read from the development
/// outbox (where the holder's SMS would arrive), then SignHash (RAW), through the generated client (DTrust.Contracts
/// on Grpc.Net.Client) over a real loopback HTTP/2 connection to the real server hosted in this process
/// (<see cref="InProcessServer"/>): real SoftHSM tokens (scripts/softhsm-tokens.sh), a real redis-server, the SQLite
/// store (WAL, synchronous=FULL) with its audit chain, the dev PKI, a QUALIFIED P-256 credential enrolled and
/// activated through the operator API in setup. The only setting changed from development defaults is
/// DTrust:Signing:ChallengesPerMinute (the SMS rate limit would stop the run after five) and the log level (Warning,
/// so the console does not pace the run).
/// Client and server share the process, so Allocated is what one round trip allocates on both sides together (plus
/// the server's background health probes, every 2 s); with 100 hashes it is per signature. The baseline is the HSM
/// work inside one SignHash, measured on the server's own vault and tokens in the same run: one vault transaction
/// (derive + unwrap + sign + destroys) of a P-256 credential key in the qualified domain, so the ratio reads as
/// "round trip per HSM transaction". Beside it, a grpc.health.v1 Check on the same channel (no caller lookup, answered
/// from the cached probe) is the cost of one gRPC call as such; a signature makes two.
/// </summary>
[Config(typeof(BenchConfig))]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet calls [GlobalCleanup], which disposes them, not Dispose")]
public class SigningRoundTripBenchmarks
{
    private const string ActivationPin = "24681357";
    private const int Batch = 100;

    private static readonly byte[] VaultPin = Encoding.ASCII.GetBytes(ActivationPin);

    private RedisServer _redis = null!;
    private InProcessServer _server = null!;
    private GrpcChannel _channel = null!;
    private SigningService.SigningServiceClient _signing = null!;
    private Health.HealthClient _health = null!;
    private Metadata _partner = null!;
    private string _state = "";
    private string _credentialId = "";
    private ByteString[] _one = [];
    private ByteString[] _hundred = [];
    private StreamReader _outboxReader = null!;
    private KeyDomain _qualified = null!;
    private WrappedCredentialKey _vaultKey = null!;
    private ReadOnlyMemory<byte>[] _digest = [];
    private int _httpPort;

    /// <summary>Settings on top of the development defaults (set before <see cref="Setup"/>; see OcspFloodBenchmarks).</summary>
    internal Dictionary<string, string> Overrides { get; } = [];

    /// <summary>The public HTTP listener (OCSP, CRLs, TSA) of the server, after <see cref="Setup"/>.</summary>
    internal Uri HttpAddress => new("http://127.0.0.1:" + _httpPort.ToString(CultureInfo.InvariantCulture));

    /// <summary>The state directory (pki/ holds the CA certificates), after <see cref="Setup"/>.</summary>
    internal string StateDirectory => _state;

    /// <summary>DER certificate of the credential the benchmark signs with, after <see cref="Setup"/>.</summary>
    internal byte[] CredentialCertificate { get; private set; } = [];

    [GlobalSetup]
    public async Task Setup()
    {
        var hsm = SoftHsmEnvironment.Shared;
        _redis = await RedisServer.StartAsync();
        _state = Directory.CreateTempSubdirectory("dtrust-bench-server-").FullName;
        var grpcPort = RedisServer.FreePort();
        _httpPort = RedisServer.FreePort();
        var settings = new Dictionary<string, string>
        {
            ["DTrust:StateDirectory"] = _state,
            ["DTrust:Development"] = "true",
            ["DTrust:Listen:Grpc"] = "127.0.0.1:" + grpcPort.ToString(CultureInfo.InvariantCulture),
            ["DTrust:Listen:Http"] = "127.0.0.1:" + _httpPort.ToString(CultureInfo.InvariantCulture),
            ["DTrust:Listen:Holder"] = "localhost:" + RedisServer.FreePort().ToString(CultureInfo.InvariantCulture),
            ["DTrust:Signing:ExplicitQualified"] = "true",
            ["DTrust:Redis:Configuration"] = _redis.Configuration,
            ["DTrust:Redis:PasswordFile"] = _redis.PasswordFile,
            ["DTrust:Signing:ChallengesPerMinute"] = "100000000",
            ["DTrust:Signing:OtpSendsPerPartnerPerHour"] = "100000000",
            ["DTrust:Signing:OtpSendsPerPhonePerHour"] = "100000000",
            ["DTrust:Grpc:CallsPerSecondPerCaller"] = "100000000",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var label in new[] { "simple", "advanced", "qualified", "seal-qualified", "seal-advanced", "tsa", "audit", "root" })
        {
            settings[$"DTrust:Hsm:Domains:{label}:PinFile"] = hsm.PinFile(label);
        }

        foreach (var (name, value) in Overrides)
        {
            settings[name] = value;
        }

        _server = new InProcessServer(settings);
        _server.StartServer();

        _channel = GrpcChannel.ForAddress("http://127.0.0.1:" + grpcPort.ToString(CultureInfo.InvariantCulture),
            new GrpcChannelOptions { HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true } });
        var op = new Metadata { { "authorization", "Bearer " + Key("operator") } };
        _partner = new Metadata { { "authorization", "Bearer " + Key("partner") } };
        _signing = new SigningService.SigningServiceClient(_channel);
        _health = new Health.HealthClient(_channel);
        _outboxReader = new StreamReader(
            new FileStream(Path.Combine(_state, "otp-outbox.jsonl"), new FileStreamOptions
            {
                Mode = FileMode.OpenOrCreate,
                Access = FileAccess.Read,
                Share = FileShare.ReadWrite,
            }),
            Encoding.UTF8);
        (_credentialId, CredentialCertificate) = await ActiveQualifiedCredentialAsync(new CredentialService.CredentialServiceClient(_channel), op);

        _one = Hashes(1);
        _hundred = Hashes(Batch);

        _qualified = _server.Services.GetRequiredService<HsmVault>().Domain("qualified");
        _vaultKey = await _qualified.CreateCredentialKeyAsync(DTrust.KeyVault.KeyAlgorithm.EcP256, VaultPin, CancellationToken.None);
        _digest = [_one[0].Memory];

        // A benchmark of refusals or of signatures nobody can verify would measure nothing: check one first.
        var signed = await SignAsync(_one);
        using var certificate = X509CertificateLoader.LoadCertificate(signed.CertificateChain[0].Span);
        using var key = certificate.GetECDsaPublicKey()!;
        if (!key.VerifyHash(_one[0].Span, signed.Signatures[0].Span, DSASignatureFormat.Rfc3279DerSequence))
        {
            throw new InvalidOperationException("setup: the server's signature does not verify with its certificate");
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        _outboxReader.Dispose();
        _channel.Dispose();
        await _server.DisposeAsync();
        await _redis.DisposeAsync();
        Directory.Delete(_state, recursive: true);
    }

    [Benchmark(Baseline = true, Description = "vault transaction alone, 1 digest (server's tokens)")]
    public Task<IReadOnlyList<byte[]>> VaultTransaction() =>
        _qualified.SignBatchAsync(_vaultKey, VaultPin, _digest, SignatureScheme.EcdsaSha256Der, CancellationToken.None);

    [Benchmark(Description = "gRPC health Check, same channel (one bare call)")]
    public async Task<HealthCheckResponse> HealthCheck() => await _health.CheckAsync(new HealthCheckRequest());

    [Benchmark(Description = "Authorize + OTP + SignHash, 1 hash (Allocated: client+server)")]
    public Task<SignHashResponse> OneHash() => SignAsync(_one);

    [Benchmark(OperationsPerInvoke = Batch, Description = "Authorize + OTP + SignHash, 100 hashes, per signature")]
    public Task<SignHashResponse> HundredHashes() => SignAsync(_hundred);

    private async Task<SignHashResponse> SignAsync(ByteString[] hashes)
    {
        var authorize = new AuthorizeSignatureRequest { CredentialId = _credentialId, HashAlgorithm = HashAlgorithm.Sha256, Description = "benchmark" };
        authorize.Hashes.AddRange(hashes);
        var challenge = await _signing.AuthorizeSignatureAsync(authorize, _partner);

        var sign = new SignHashRequest
        {
            CredentialId = _credentialId,
            ChallengeId = challenge.ChallengeId,
            Otp = NextOtp(challenge.ChallengeId),
            ActivationPin = ActivationPin,
            HashAlgorithm = HashAlgorithm.Sha256,
            SignatureFormat = SignatureFormat.Raw,
        };
        sign.Hashes.AddRange(hashes);
        var signed = await _signing.SignHashAsync(sign, _partner);
        return signed.Signatures.Count == hashes.Length
            ? signed
            : throw new InvalidOperationException($"{signed.Signatures.Count} signatures for {hashes.Length} hashes");
    }

    /// <summary>
    /// The code of <paramref name="challengeId"/> from the outbox, read on from where the last read stopped: the
    /// server appends the line before AuthorizeSignature returns, and rereading the growing file each time would
    /// make the benchmark slower the longer it runs.
    /// </summary>
    private string NextOtp(string challengeId)
    {
        while (_outboxReader.ReadLine() is { } line)
        {
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.GetProperty("challenge_id").GetString() == challengeId)
            {
                return doc.RootElement.GetProperty("otp").GetString()!;
            }
        }

        throw new InvalidOperationException("no message in the outbox for " + challengeId);
    }

    private string Key(string role) => File.ReadAllText(Path.Combine(_state, "keys", role + ".key")).Trim();

    private async Task<(string Id, byte[] Certificate)> ActiveQualifiedCredentialAsync(CredentialService.CredentialServiceClient credentials, Metadata op)
    {
        var user = "bench-" + Guid.NewGuid().ToString("N")[..10];
        await credentials.UpsertHolderAsync(new UpsertHolderRequest
        {
            Holder = new Holder { UserId = user, GivenName = "Erika", Surname = "Mustermann", Country = "DE", Phone = "+4930123456" },
        }, op);
        await credentials.RecordIdentificationAsync(new RecordIdentificationRequest
        {
            UserId = user,
            Identification = new Identification
            {
                Method = IdentificationMethod.VideoIdent,
                VerifiedAt = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-1)),
                ValidUntil = Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddYears(2)),
            },
        }, op);
        var enrolled = await credentials.EnrollCredentialAsync(
            new EnrollCredentialRequest { UserId = user, Level = Level.Qualified, KeyAlgorithm = KeyAlgorithm.EcP256 }, op);
        var active = await credentials.ActivateCredentialAsync(new ActivateCredentialRequest
        {
            CredentialId = enrolled.Credential.CredentialId,
            TransportPin = NextOtp("transport-pin:" + enrolled.Credential.CredentialId),
            ActivationPin = ActivationPin,
        }, op);
        return active.Status == CredentialStatus.Valid
            ? (active.CredentialId, active.Certificate.ToByteArray())
            : throw new InvalidOperationException("setup: the credential is " + active.Status);
    }

    private static ByteString[] Hashes(int count) =>
        [.. Enumerable.Range(0, count).Select(i => ByteString.CopyFrom(SHA256.HashData(Encoding.UTF8.GetBytes("document " + i))))];
}
