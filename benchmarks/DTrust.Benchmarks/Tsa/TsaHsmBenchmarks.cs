using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using BenchmarkDotNet.Attributes;
using DTrust.KeyVault;
using DTrust.Testing;
using DTrust.Tsa;

namespace DTrust.Benchmarks.Tsa;

/// <summary>
/// Tokens per second with the TSA key in SoftHSM (the `tsa` domain, through KeyVault) beside the raw HSM sign of
/// the same key in the same run. One thread: the ratio shows what the library adds on top of C_Sign.
/// </summary>
[Config(typeof(BenchConfig))]
public class TsaHsmBenchmarks
{
    private HsmVault _vault = null!;
    private HsmSigningKey _hsmKey = null!;
    private AsymmetricAlgorithm _algorithm = null!;
    private TimeStampAuthority _tsa = null!;
    private byte[] _request = null!;
    private byte[] _digest = null!;

    [Params(KeyAlgorithm.EcP256, KeyAlgorithm.Rsa2048)]
    public KeyAlgorithm Algorithm { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var hsm = SoftHsmEnvironment.Shared;
        _vault = HsmVault.Open(new KeyVaultOptions
        {
            ModulePath = SoftHsmEnvironment.ModulePath,
            Domains = [new KeyDomainOptions { Name = "tsa", TokenLabel = "tsa", PinFile = hsm.PinFile("tsa"), Sessions = 2 }],
        });
        _hsmKey = _vault.Domain("tsa").GetOrCreateSigningKey("tsa-" + Algorithm, Algorithm);
        _algorithm = _hsmKey.CreateAlgorithm();

        var cert = BenchTsaPki.IssueTsaCertificate(PublicKey.CreateFromSubjectPublicKeyInfo(_hsmKey.SubjectPublicKeyInfo, out _));
        _tsa = new TimeStampAuthority(new TsaOptions(), new TsaSigner(cert, _algorithm), TimeProvider.System);
        _request = BenchTsaPki.Request();
        _digest = SHA256.HashData("signed attributes"u8);
        BenchTsaPki.EnsureValidToken(_tsa, _request, cert);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _algorithm.Dispose();
        _vault.Dispose();
    }

    [Benchmark(Baseline = true, Description = "raw HSM SignDigest (tsa key)")]
    public byte[] RawHsmSign() => _hsmKey.SignDigest(_digest,
        Algorithm == KeyAlgorithm.EcP256 ? SignatureScheme.EcdsaSha256Der : SignatureScheme.RsaPssSha256);

    [Benchmark(Description = "library token (tsa key in HSM)")]
    public byte[] LibraryToken() => _tsa.Respond(_request).Response;
}
