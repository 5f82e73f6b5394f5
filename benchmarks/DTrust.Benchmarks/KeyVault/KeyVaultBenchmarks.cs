using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using DTrust.KeyVault;
using DTrust.KeyVault.Internal;
using DTrust.KeyVault.Interop;
using DTrust.Testing;

// Not DTrust.Benchmarks.KeyVault: that namespace would shadow DTrust.KeyVault for sibling suites.
namespace DTrust.Benchmarks.Vault;

/// <summary>
/// The vault's signing paths beside the two physical limits of the HSM, measured in the same process:
/// raw C_Sign on a token key, and the raw per-transaction work (derive + unwrap + one sign + two destroys) with
/// bare PKCS#11 calls (<see cref="RawPkcs11"/>, not the vault's Pkcs11Interop adapter). Every benchmark reports time per signature (raw transaction: per transaction), and spreads a
/// fixed amount of work over <see cref="Sessions"/> threads, each with its own session, so ops/s compare directly.
/// Default matrix: P-256 and RSA-2048 with 1 and 4 sessions. DTRUST_BENCH_MATRIX=full: P-256, P-384, RSA-2048 and
/// RSA-3072 with 1, 2 and 4 sessions (about three times as long); quick (make bench): P-256 and RSA-2048 with 1 session.
/// </summary>
[Config(typeof(BenchConfig))]
public class KeyVaultBenchmarks
{
    private const int Transactions = 16;
    private const int Batches = 4;

    private static readonly byte[] Pin = "bench-pin-1"u8.ToArray();
    private static readonly int[] BatchSizes = [1, 10, 100];

    private HsmVault _vault = null!;
    private KeyDomain _domain = null!;
    private RawPkcs11 _p11 = null!;
    private ulong[] _sessions = [];
    private ulong _master;
    private ulong _tokenKey;
    private WrappedCredentialKey _credential = null!;
    private byte[] _kekMaterial = [];
    private ulong _signMechanism;
    private RawPkcs11.NativeTemplate _kekTemplate = null!;
    private RawPkcs11.NativeTemplate _unwrapTemplate = null!;
    private SignatureScheme _scheme;
    private byte[] _rawInput = [];
    private ReadOnlyMemory<byte>[][] _batches = [];
    private AsymmetricAlgorithm _publicKey = null!;
    private IReadOnlyList<byte[]> _checked = [];

    public static IEnumerable<KeyAlgorithm> AlgorithmValues => BenchMatrix.Only(
        "DTRUST_BENCH_ALGORITHMS",
        BenchMatrix.Full ? [KeyAlgorithm.EcP256, KeyAlgorithm.EcP384, KeyAlgorithm.Rsa2048, KeyAlgorithm.Rsa3072] : [KeyAlgorithm.EcP256, KeyAlgorithm.Rsa2048],
        Enum.Parse<KeyAlgorithm>);

    public static IEnumerable<int> SessionValues => BenchMatrix.Only(
        "DTRUST_BENCH_SESSIONS", BenchMatrix.Full ? [1, 2, 4] : BenchMatrix.Quick ? [1] : [1, 4], int.Parse);

    [ParamsSource(nameof(AlgorithmValues))]
    public KeyAlgorithm Algorithm { get; set; }

    [ParamsSource(nameof(SessionValues))]
    public int Sessions { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var hsm = SoftHsmEnvironment.Shared;
        _vault = HsmVault.Open(new KeyVaultOptions
        {
            ModulePath = SoftHsmEnvironment.ModulePath,
            Domains = [new KeyDomainOptions { Name = "simple", TokenLabel = "simple", PinFile = hsm.PinFile("simple"), Sessions = Sessions }],
        });
        _domain = _vault.Domain("simple");
        _domain.EnsureMasterKey();
        _tokenKey = _domain.GetOrCreateSigningKey("bench-" + Algorithm, Algorithm).Handle;
        _credential = _domain.CreateCredentialKeyAsync(Algorithm, Pin, CancellationToken.None).GetAwaiter().GetResult();

        // Raw sessions of their own; the vault has already logged the token in (C_Login is per application).
        _p11 = RawPkcs11.Load(SoftHsmEnvironment.ModulePath);
        _sessions = [.. Enumerable.Range(0, Sessions).Select(_ => _p11.OpenSession(_domain.SlotId))];
        _master = _domain.MasterKey(_sessions[0]);
        _kekMaterial = SHA256.HashData([.. _credential.Salt, .. Pin]);

        var ec = Algorithm is KeyAlgorithm.EcP256 or KeyAlgorithm.EcP384;
        _scheme = ec ? SignatureScheme.EcdsaSha256P1363 : SignatureScheme.RsaPkcs1Sha256;
        _signMechanism = ec ? CK.CKM_ECDSA : CK.CKM_RSA_PKCS;
        _kekTemplate = new RawPkcs11.NativeTemplate(Templates.Kek);
        _unwrapTemplate = new RawPkcs11.NativeTemplate(Templates.Unwrapped(Algorithm, forRewrap: false));
        var digest = SHA256.HashData("benchmark"u8);
        _rawInput = ec ? digest : Schemes.DigestInfo(HashAlgorithmName.SHA256, digest);
        _batches = [.. BatchSizes.Select(n => Enumerable.Repeat((ReadOnlyMemory<byte>)digest, n).ToArray())];

        // What the self-check verifies: the batch's signatures, against the credential's public key.
        _checked = _domain.SignBatchAsync(_credential, Pin, _batches[2], _scheme, CancellationToken.None).GetAwaiter().GetResult();
        _publicKey = ec ? ECDsa.Create() : RSA.Create();
        _publicKey.ImportSubjectPublicKeyInfo(_credential.SubjectPublicKeyInfo, out _);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var s in _sessions)
        {
            _p11.CloseSession(s);
        }

        _vault.Dispose();
        _publicKey.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Transactions, Description = "raw C_Sign (token key)")]
    public void RawSign() => Spread(Transactions, s =>
    {
        Span<byte> signature = stackalloc byte[512];
        _p11.SignWith(s, _signMechanism, _tokenKey, _rawInput, signature[..Algorithms.SignatureLength(Algorithm)]);
    });

    [Benchmark(OperationsPerInvoke = Transactions, Description = "raw transaction (derive+unwrap+sign+2 destroys)")]
    public void RawTransaction() => Spread(Transactions, s =>
    {
        Span<byte> signature = stackalloc byte[512];
        _p11.Transaction(
            s, _master, _kekMaterial, _kekTemplate, _credential.Blob, _unwrapTemplate, _signMechanism, _rawInput,
            signature[..Algorithms.SignatureLength(Algorithm)]);
    });

    [Benchmark(OperationsPerInvoke = Transactions, Description = "vault batch 1 (per signature)")]
    public void VaultBatch1() => VaultSpread(Transactions, _batches[0]);

    [Benchmark(OperationsPerInvoke = Batches * 10, Description = "vault batch 10 (per signature)")]
    public void VaultBatch10() => VaultSpread(Batches, _batches[1]);

    [Benchmark(OperationsPerInvoke = Batches * 100, Description = "vault batch 100 (per signature)")]
    public void VaultBatch100() => VaultSpread(Batches, _batches[2]);

    /// <summary>
    /// The verification the vault does on every RSA signature before release (finding 10: an RSA-CRT fault leaks the
    /// key), alone and on one thread: its share of "vault batch 100" is what the check costs. ECDSA is verified once
    /// per batch by the signing flow instead; its row shows what checking every ECDSA signature would cost.
    /// </summary>
    [Benchmark(OperationsPerInvoke = 100, Description = "self-check verify (per signature)")]
    public bool SelfCheck100()
    {
        var ok = true;
        var digest = _batches[2][0].Span;
        foreach (var signature in _checked)
        {
            ok &= _publicKey is RSA rsa
                ? rsa.VerifyHash(digest, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
                : ((ECDsa)_publicKey).VerifyHash(digest, signature, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }

        return ok ? ok : throw new InvalidOperationException("a benchmark signature does not verify");
    }

    /// <summary>
    /// Runs <paramref name="total"/> operations split evenly over one worker per session. Workers are thread-pool
    /// tasks exactly as in <see cref="VaultSpread"/>, also for one session: waking a pool thread on this loaded
    /// 2-core host can cost milliseconds, so a baseline run inline on the benchmark thread would hide that cost
    /// from itself and charge it to the vault (this was the 'extra half millisecond' of vault batch 1).
    /// </summary>
    private void Spread(int total, Action<ulong> operation)
    {
        var perWorker = total / Sessions;
        var workers = Enumerable.Range(0, Sessions).Select(w => Task.Run(() =>
        {
            for (var i = 0; i < perWorker; i++)
            {
                operation(_sessions[w]);
            }
        }));
        Task.WaitAll([.. workers]);
    }

    private void VaultSpread(int batches, ReadOnlyMemory<byte>[] digests)
    {
        var perWorker = batches / Sessions;
        var workers = Enumerable.Range(0, Sessions).Select(_ => Task.Run(async () =>
        {
            for (var i = 0; i < perWorker; i++)
            {
                await _domain.SignBatchAsync(_credential, Pin, digests, _scheme, CancellationToken.None);
            }
        }));
        Task.WaitAll([.. workers]);
    }
}
