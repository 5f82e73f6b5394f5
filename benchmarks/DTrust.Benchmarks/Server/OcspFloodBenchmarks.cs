using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BenchmarkDotNet.Attributes;
using DTrust.Signing.V1;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Ocsp;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace DTrust.Benchmarks.Server;

/// <summary>
/// Finding 4: does a flood of OCSP requests move a partner's signature latency? The same round trip as
/// <see cref="SigningRoundTripBenchmarks.OneHash"/> (Authorize + OTP + SignHash, one hash, QUALIFIED P-256, real
/// server in this process), measured quiet (the baseline) and while OCSP requests flood the public listener. A
/// flood is a third each: the signing credential's own certificate (a pre-produced answer), a new made-up serial
/// each time under the qualified CA (signed "unknown" answers: the qualified responder key is in the same token,
/// with the same sessions, as the credential keys), and CertIDs naming the root (no CA of ours: unauthorized).
/// Floods: paced at 1000 requests a second (a round of 10,000 every 10 s), with the public rate limit at its
/// defaults (one client address, so most of it is turned away with 429) and with it off (every request reaches the
/// responder); and 32 clients flat out with the limit on. The Ratio column is the answer; each flood's own counts
/// are printed at the end of its case. The flood's client runs in this process, on the same cores as the server and
/// the signing client (Allocated includes it): on a small machine a flood flat out measures CPU contention, which no
/// responder design removes, more than the HSM.
/// </summary>
[Config(typeof(BenchConfig))]
[SuppressMessage("Design", "CA1001", Justification = "BenchmarkDotNet calls [GlobalCleanup], which disposes them, not Dispose")]
public class OcspFloodBenchmarks
{
    /// <summary>Requests per round of the flood; the flood repeats rounds until the case ends.</summary>
    public const int RoundSize = 10_000;

    /// <summary>The paced flood's rate: one round of <see cref="RoundSize"/> every 10 s.</summary>
    public const int PacedPerSecond = 1000;

    private const int FloodClients = 32;

    private readonly SigningRoundTripBenchmarks _signing = new();
    private CancellationTokenSource? _stop;
    private Task? _flood;
    private HttpClient? _http;
    private long _ok;
    private long _limited;
    private long _other;
    private long _skipped;
    private long _started;

    [GlobalSetup(Target = nameof(Quiet))]
    public Task SetupQuiet() => _signing.Setup();

    [GlobalSetup(Target = nameof(DuringPacedFloodLimited))]
    public Task SetupPacedLimited() => SetupFloodAsync(rateLimit: true, paced: true);

    [GlobalSetup(Target = nameof(DuringPacedFloodUnlimited))]
    public Task SetupPacedUnlimited() => SetupFloodAsync(rateLimit: false, paced: true);

    [GlobalSetup(Target = nameof(DuringSaturatingFloodLimited))]
    public Task SetupSaturatingLimited() => SetupFloodAsync(rateLimit: true, paced: false);

    [GlobalCleanup]
    public async Task Cleanup()
    {
        if (_stop is not null && _flood is not null)
        {
            await _stop.CancelAsync();
            await _flood;
            var seconds = (DateTime.UtcNow.Ticks - _started) / (double)TimeSpan.TicksPerSecond;
            var total = _ok + _limited + _other;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"// OCSP flood: {total} requests in {seconds:F1} s ({total / seconds:F0}/s, {total / (double)RoundSize:F1} rounds of {RoundSize}): {_ok} answered 200, {_limited} refused 429, {_other} other, {_skipped} skipped (too many in flight)"));
            _stop.Dispose();
            _http?.Dispose();
        }

        await _signing.Cleanup();
    }

    [Benchmark(Baseline = true, Description = "SignHash, quiet")]
    public Task<SignHashResponse> Quiet() => _signing.OneHash();

    [Benchmark(Description = "SignHash, OCSP flood 1000/s, rate limit on (defaults)")]
    public Task<SignHashResponse> DuringPacedFloodLimited() => _signing.OneHash();

    [Benchmark(Description = "SignHash, OCSP flood 1000/s, rate limit off")]
    public Task<SignHashResponse> DuringPacedFloodUnlimited() => _signing.OneHash();

    [Benchmark(Description = "SignHash, OCSP flood 32 clients flat out, rate limit on")]
    public Task<SignHashResponse> DuringSaturatingFloodLimited() => _signing.OneHash();

    private async Task SetupFloodAsync(bool rateLimit, bool paced)
    {
        _signing.Overrides["DTrust:Pki:RateLimit:Enabled"] = rateLimit ? "true" : "false";

        // "Off" means every request reaches the responder: the per-address connection cap goes too.
        _signing.Overrides["DTrust:Listen:PublicConnectionsPerAddress"] = rateLimit ? "32" : "100000";
        await _signing.Setup();

        var ca = Pem("ca-qualified.pem");
        var root = Pem("root.pem");
        var own = new BcCertificate(_signing.CredentialCertificate).SerialNumber;
        var ownRequest = Request(ca, own);
        var rootRequest = Request(root, own);

        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = FloodClients });
        var url = new Uri(_signing.HttpAddress, "/ocsp");
        _stop = new CancellationTokenSource();
        _started = DateTime.UtcNow.Ticks;
        var stop = _stop.Token;
        _flood = paced ? PacedAsync(url, ownRequest, rootRequest, ca, stop) : SaturatingAsync(url, ownRequest, rootRequest, ca, stop);
    }

    /// <summary>
    /// Open loop: <see cref="PacedPerSecond"/> requests a second on schedule (a round of 10,000 every 10 s), whatever
    /// the answers do, at most <see cref="FloodClients"/> × 8 in flight (beyond that a request is counted skipped).
    /// </summary>
    private async Task PacedAsync(Uri url, byte[] own, byte[] foreign, BcCertificate ca, CancellationToken stop)
    {
        using var inFlight = new SemaphoreSlim(FloodClients * 8);
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(10));
        var sent = 0L;
        var start = Stopwatch.GetTimestamp();
        var running = new List<Task>();
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                var due = (long)(Stopwatch.GetElapsedTime(start).TotalSeconds * PacedPerSecond);
                for (; sent < due; sent++)
                {
                    if (!inFlight.Wait(0, CancellationToken.None))
                    {
                        Interlocked.Increment(ref _skipped);
                        continue;
                    }

                    var request = Pick(sent, own, foreign, ca);
                    running.Add(Task.Run(async () =>
                    {
                        try
                        {
                            await SendAsync(url, request, stop);
                        }
                        finally
                        {
                            inFlight.Release();
                        }
                    }, CancellationToken.None));
                }

                running.RemoveAll(t => t.IsCompleted);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        await Task.WhenAll(running);
    }

    /// <summary>Closed loop: <see cref="FloodClients"/> clients, each sending its next request as soon as the last is answered.</summary>
    private Task SaturatingAsync(Uri url, byte[] own, byte[] foreign, BcCertificate ca, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, FloodClients).Select(client => Task.Run(async () =>
        {
            for (long i = client; !stop.IsCancellationRequested; i += FloodClients)
            {
                await SendAsync(url, Pick(i, own, foreign, ca), stop);
            }
        }, CancellationToken.None)));

    /// <summary>
    /// Thirds: the credential's own certificate, a made-up serial (a new one each time: what costs the responder
    /// most), a CertID naming the root.
    /// </summary>
    private static byte[] Pick(long i, byte[] own, byte[] foreign, BcCertificate ca) => (i % 3) switch
    {
        0 => own,
        1 => Request(ca, new BigInteger(1, RandomNumberGenerator.GetBytes(16))),
        _ => foreign,
    };

    private async Task SendAsync(Uri url, byte[] request, CancellationToken stop)
    {
        try
        {
            using var content = new ByteArrayContent(request);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
            using var response = await _http!.PostAsync(url, content, stop);
            await response.Content.ReadAsByteArrayAsync(stop);
            switch (response.StatusCode)
            {
                case HttpStatusCode.OK:
                    Interlocked.Increment(ref _ok);
                    break;
                case HttpStatusCode.TooManyRequests:
                    Interlocked.Increment(ref _limited);
                    break;
                default:
                    Interlocked.Increment(ref _other);
                    break;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
        catch (HttpRequestException)
        {
            Interlocked.Increment(ref _other);
        }
    }

    private BcCertificate Pem(string name)
    {
        using var certificate = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(_signing.StateDirectory, "pki", name)));
        return new BcCertificate(certificate.RawData);
    }

    private static byte[] Request(BcCertificate issuer, BigInteger serial)
    {
        var generator = new OcspReqGenerator();
        generator.AddRequest(new CertificateID(
            new AlgorithmIdentifier(Org.BouncyCastle.Asn1.Oiw.OiwObjectIdentifiers.IdSha1, DerNull.Instance), issuer, serial));
        return generator.Generate().GetEncoded();
    }
}
