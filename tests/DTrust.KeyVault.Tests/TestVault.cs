using System.Collections.Concurrent;
using System.Security.Cryptography;
using DTrust.KeyVault.Interop;
using DTrust.Testing;

namespace DTrust.KeyVault.Tests;

/// <summary>
/// One vault over the shared SoftHSM environment for the whole test run, set up through the production path
/// (EnsureMasterKey, GetOrCreateSigningKey), plus helpers to open further vaults on chosen tokens.
/// </summary>
internal static class TestVault
{
    /// <summary>The CA/TSA key each domain token gets; nothing else may appear as a private key on the tokens.</summary>
    public static readonly IReadOnlyDictionary<string, (string Label, KeyAlgorithm Algorithm)> SigningKeys =
        new Dictionary<string, (string, KeyAlgorithm)>
        {
            ["simple"] = ("ca-simple", KeyAlgorithm.EcP256),
            ["advanced"] = ("ca-advanced", KeyAlgorithm.EcP384),
            ["qualified"] = ("ca-qualified", KeyAlgorithm.Rsa3072),
            ["tsa"] = ("tsa", KeyAlgorithm.Rsa2048),
        };

    public static readonly string[] DomainNames = ["simple", "advanced", "qualified", "tsa"];

    private static readonly Lazy<HsmVault> SharedVault = new(CreateShared);
    private static readonly ConcurrentDictionary<(string, KeyAlgorithm), Lazy<Task<WrappedCredentialKey>>> Credentials = new();

    // SoftHsmEnvironment exports SOFTHSM2_CONF to the C runtime before the module loads.
    private static readonly Lazy<SoftHsmEnvironment> Environment = new(() => SoftHsmEnvironment.Shared);

    /// <summary>The shared SoftHSM environment, exported to the native environment before the module loads.</summary>
    public static SoftHsmEnvironment Hsm => Environment.Value;

    public static HsmVault Shared => SharedVault.Value;

    public static byte[] CredentialPin => "246810"u8.ToArray();

    public static KeyDomainOptions DomainOptions(string name, string token, int sessions = 4) => new()
    {
        Name = name,
        TokenLabel = token,
        PinFile = Hsm.PinFile(token),
        Sessions = sessions,
    };

    public static KeyVaultOptions Options(params KeyDomainOptions[] domains) => new()
    {
        // Touching Hsm first makes sure SOFTHSM2_CONF is exported before any module load.
        ModulePath = Hsm.ConfPath.Length > 0 ? SoftHsmEnvironment.ModulePath : "",
        Domains = domains,
    };

    /// <summary>
    /// Opens another vault (own pools, optionally a fault-injecting binding) after the shared set-up has run, so
    /// that master and CA keys exist whatever order the tests run in.
    /// </summary>
    public static HsmVault Open(
        Func<IPkcs11, IPkcs11>? decorate, Microsoft.Extensions.Logging.ILoggerFactory? log, params KeyDomainOptions[] domains)
    {
        _ = Shared;
        return HsmVault.Open(Options(domains), log, decorate);
    }

    /// <summary>A credential key per domain and algorithm, made once with <see cref="CredentialPin"/> (RSA-4096 is slow).</summary>
    public static Task<WrappedCredentialKey> Credential(string domain, KeyAlgorithm alg) =>
        Credentials.GetOrAdd((domain, alg), _ => new Lazy<Task<WrappedCredentialKey>>(
            () => Shared.Domain(domain).CreateCredentialKeyAsync(alg, CredentialPin, CancellationToken.None))).Value;

    public static ReadOnlyMemory<byte>[] Digests(HashAlgorithmName hash, int count) =>
        [.. Enumerable.Range(0, count).Select(i => (ReadOnlyMemory<byte>)CryptographicOperations.HashData(hash, BitConverter.GetBytes(i + System.Environment.TickCount)))];

    /// <summary>Runs <paramref name="work"/> on a leased session of <paramref name="domain"/> with the raw binding.</summary>
    public static T WithSession<T>(KeyDomain domain, Func<IPkcs11, ulong, T> work)
    {
        using var lease = domain.Pool.Rent();
        return work(domain.Pkcs11, lease.Handle);
    }

    private static HsmVault CreateShared()
    {
        var vault = HsmVault.Open(Options([.. DomainNames.Select(n => DomainOptions(n, n))]));
        foreach (var domain in vault.Domains)
        {
            domain.EnsureMasterKey();
            var (label, alg) = SigningKeys[domain.Name];
            domain.GetOrCreateSigningKey(label, alg);
        }

        return vault;
    }
}
