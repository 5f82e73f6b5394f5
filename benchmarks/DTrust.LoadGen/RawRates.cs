using System.Diagnostics;
using System.Security.Cryptography;
using DTrust.Benchmarks.Vault;
using DTrust.KeyVault;
using DTrust.KeyVault.Internal;
using DTrust.KeyVault.Interop;
using DTrust.Testing;

namespace DTrust.LoadGen;

/// <summary>What the HSM alone does per second, the limit each scenario is read against.</summary>
public enum RawOperation
{
    /// <summary>C_Sign on a token key (batch signing per signature; the TSA key).</summary>
    TokenSign,

    /// <summary>Derive KEK + unwrap + one C_Sign + two destroys: what one PIN-bound single-hash signature costs.</summary>
    Transaction,

    /// <summary>A transaction and a token-key C_Sign: a time-stamped signature (credential key, then the TSA key).</summary>
    TransactionAndTokenSign,

    /// <summary>A holder's approval (PIN KEK, unwrap, SAD KEK, wrap) and then the transaction with the SAD.</summary>
    ApprovalAndTransaction,
}

/// <summary>
/// Measures raw rates with bare PKCS#11 calls (<see cref="RawPkcs11"/>, not the vault's Pkcs11Interop adapter), one
/// thread and one session per server session, on SoftHSM tokens of its own made by the same script as the server's
/// (same module, same algorithms; the server's tokens are not touched). The vault is only used to set up the
/// master key, a token key and one wrapped credential key.
/// </summary>
public sealed class RawRates : IDisposable
{
    private static readonly byte[] Pin = "loadgen-pin-1"u8.ToArray();

    private readonly HsmVault _vault;
    private readonly KeyDomain _domain;
    private readonly RawPkcs11 _p11;
    private readonly int _threads;

    public RawRates(int threads)
    {
        _threads = threads;
        var hsm = SoftHsmEnvironment.Shared;
        _vault = HsmVault.Open(new KeyVaultOptions
        {
            ModulePath = SoftHsmEnvironment.ModulePath,
            Domains = [new KeyDomainOptions { Name = "qualified", TokenLabel = "qualified", PinFile = hsm.PinFile("qualified"), Sessions = 1 }],
        });
        _domain = _vault.Domain("qualified");
        _domain.EnsureMasterKey();
        _p11 = RawPkcs11.Load(SoftHsmEnvironment.ModulePath);
    }

    /// <summary>Operations per second of <paramref name="operation"/> with <paramref name="alg"/> over <paramref name="duration"/>.</summary>
    public double Measure(RawOperation operation, KeyAlgorithm alg, TimeSpan duration)
    {
        var tokenKey = _domain.GetOrCreateSigningKey("loadgen-" + alg, alg).Handle;
        var credential = _domain.CreateCredentialKeyAsync(alg, Pin, CancellationToken.None).GetAwaiter().GetResult();
        var ec = Algorithms.IsEc(alg);
        var mechanism = ec ? CK.CKM_ECDSA : CK.CKM_RSA_PKCS;
        var digest = SHA256.HashData("load generator"u8);
        var input = ec ? digest : Schemes.DigestInfo(HashAlgorithmName.SHA256, digest);
        var length = Algorithms.SignatureLength(alg);
        var kekMaterial = SHA256.HashData([.. credential.Salt, .. Pin]);
        var kekTemplate = new RawPkcs11.NativeTemplate(Templates.Kek);
        var unwrapTemplate = new RawPkcs11.NativeTemplate(Templates.Unwrapped(alg, forRewrap: false));
        var rewrapTemplate = new RawPkcs11.NativeTemplate(Templates.Unwrapped(alg, forRewrap: true));
        var sadKekMaterial = SHA256.HashData([.. credential.Salt, .. "dtrust-sad:load"u8]);

        void Sign(ulong session, ulong key)
        {
            Span<byte> signature = stackalloc byte[512];
            _p11.SignWith(session, mechanism, key, input, signature[..length]);
        }

        void Transaction(ulong session, ulong master)
        {
            Span<byte> signature = stackalloc byte[512];
            _p11.Transaction(session, master, kekMaterial, kekTemplate, credential.Blob, unwrapTemplate, mechanism, input, signature[..length]);
        }

        var sessions = Enumerable.Range(0, _threads).Select(_ => _p11.OpenSession(_domain.SlotId)).ToArray();
        try
        {
            var master = _domain.MasterKey(sessions[0]);
            Action<ulong> op = operation switch
            {
                RawOperation.TokenSign => s => Sign(s, tokenKey),
                RawOperation.Transaction => s => Transaction(s, master),
                RawOperation.ApprovalAndTransaction => s =>
                {
                    Span<byte> wrapped = stackalloc byte[4096];
                    _p11.Rewrap(s, master, kekMaterial, kekTemplate, credential.Blob, rewrapTemplate, sadKekMaterial, wrapped);
                    Transaction(s, master);
                }
                ,
                _ => s =>
                {
                    Transaction(s, master);
                    Sign(s, tokenKey);
                }
                ,
            };

            // A short warm-up, then every thread runs until the deadline; the rate is what all of them completed.
            Run(sessions, op, TimeSpan.FromMilliseconds(300));
            return Run(sessions, op, duration);
        }
        finally
        {
            foreach (var s in sessions)
            {
                _p11.CloseSession(s);
            }
        }
    }

    private static double Run(ulong[] sessions, Action<ulong> op, TimeSpan duration)
    {
        var clock = Stopwatch.StartNew();
        var counts = new long[sessions.Length];
        var threads = sessions.Select((session, i) => new Thread(() =>
        {
            var n = 0L;
            while (clock.Elapsed < duration)
            {
                op(session);
                n++;
            }

            counts[i] = n;
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        return counts.Sum() / clock.Elapsed.TotalSeconds;
    }

    public void Dispose() => _vault.Dispose();
}
