using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using DTrust.Tsa;

namespace DTrust.Benchmarks.Tsa;

/// <summary>
/// CPU cost of a token (parse, TSTInfo, CMS, P-256 signature) against the bare P-256 SignHash it contains, in the
/// same run: the ratio is the library's overhead, independent of the HSM.
/// </summary>
[Config(typeof(BenchConfig))]
public class TsaSoftwareBenchmarks
{
    private ECDsa _key = null!;
    private TimeStampAuthority _tsa = null!;
    private byte[] _request = null!;
    private byte[] _digest = null!;

    [GlobalSetup]
    public void Setup()
    {
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var cert = BenchTsaPki.IssueTsaCertificate(new System.Security.Cryptography.X509Certificates.PublicKey(_key));
        _tsa = new TimeStampAuthority(new TsaOptions(), new TsaSigner(cert, _key), TimeProvider.System);
        _request = BenchTsaPki.Request();
        _digest = SHA256.HashData("signed attributes"u8);
        BenchTsaPki.EnsureValidToken(_tsa, _request, cert);
    }

    [GlobalCleanup]
    public void Cleanup() => _key.Dispose();

    [Benchmark(Baseline = true, Description = "raw P-256 SignHash (software)")]
    public byte[] RawSignHash() => _key.SignHash(_digest);

    [Benchmark(Description = "library token, P-256 (software)")]
    public byte[] LibraryToken() => _tsa.Respond(_request).Response;
}
