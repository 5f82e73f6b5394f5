using DTrust.KeyVault.Internal;
using DTrust.KeyVault.Interop;
using Microsoft.Extensions.Logging;

namespace DTrust.KeyVault;

/// <summary>
/// One key domain: one token, its master key, its CA/TSA keys and the credential keys wrapped under it. A domain
/// holds sessions on its own token only; nothing here takes a token or a level from the caller.
/// </summary>
/// <remarks>
/// The PKCS#11 backend of <see cref="IKeyDomain"/>, in one file per job so that each can be read alone:
/// <c>KeyDomain.Sessions.cs</c> (leasing, fault reporting, handle generations), <c>KeyDomain.MasterKey.cs</c> (master
/// key and KEK derivation), <c>KeyDomain.CredentialKeys.cs</c> (create and re-wrap), <c>KeyDomain.Unwrap.cs</c>
/// (telling a wrong PIN from a failing HSM), <c>KeyDomain.BatchSigning.cs</c> (a batch under one unwrap, the RSA
/// self-check) and <c>KeyDomain.TokenKeys.cs</c> (CA/TSA keys: lookup, checks, signing). Partial files rather than
/// helper classes: every job works on the same lease, cached handles and fault state, and handing those between
/// objects would hide the order of the PKCS#11 calls, which is what a reviewer of this code has to follow.
/// </remarks>
public sealed partial class KeyDomain : IKeyDomain, IDisposable
{
    private readonly IPkcs11 _p11;
    private readonly SessionPool _pool;
    private readonly ILogger _log;
    private readonly Lock _setupLock = new();

    internal KeyDomain(string name, string tokenLabel, IPkcs11 p11, SessionPool pool, ILogger log)
    {
        Name = name;
        TokenLabel = tokenLabel;
        _p11 = p11;
        _pool = pool;
        _log = log;
    }

    public string Name { get; }

    public string TokenLabel { get; }

    internal ulong SlotId => _pool.SlotId;

    internal SessionPool Pool => _pool;

    internal IPkcs11 Pkcs11 => _p11;

    /// <summary>
    /// A cheap round trip on a pooled session of this domain's token, for health checks: the session's state and
    /// the master key's handle. A failure reports the session to the pool like any other operation.
    /// </summary>
    public Task ProbeAsync(CancellationToken ct) => RunAsync("health probe", lease =>
    {
        _p11.GetSessionInfo(lease.Handle);
        return MasterKey(lease.Handle);
    }, ct);

    public void Dispose() => _pool.Dispose();

    // The contract hands out ISigningKey; callers of the concrete type keep getting HsmSigningKey.
    ISigningKey IKeyDomain.GetSigningKey(string label) => GetSigningKey(label);

    ISigningKey IKeyDomain.GetOrCreateSigningKey(string label, KeyAlgorithm alg) => GetOrCreateSigningKey(label, alg);

    // The argument checks are shared with every backend of IKeyDomain (CredentialChecks), so that all refuse alike.
    private static void CheckAlgorithm(KeyAlgorithm alg) => CredentialChecks.Algorithm(alg);

    private static void CheckPin(ReadOnlyMemory<byte> pin) => CredentialChecks.Pin(pin);

    // Shared by the master key and the token keys: an object on the token is checked, not trusted.
    private void CheckFlags(ulong session, ulong handle, string what, (ulong Attribute, string Name, bool Expected)[] flags)
    {
        foreach (var (attribute, name, expected) in flags)
        {
            if (_p11.GetAttributeValue(session, handle, attribute) is not [var value] || value != 0 != expected)
            {
                throw new KeyVaultException(
                    KeyVaultErrorKind.Configuration,
                    $"{what} has {name} {(!expected).ToString().ToLowerInvariant()}, not {expected.ToString().ToLowerInvariant()}: a key generated in the HSM, sensitive and never extractable, is required; refusing to use it");
            }
        }
    }

    // Shared by credential and token key signing.
    private byte[] SignOnce(ulong session, in Mechanism mechanism, ulong key, KeyAlgorithm alg, byte[] input)
    {
        // One C_Sign with a buffer of the final size: a length query would leave the operation active on SoftHSM.
        var signature = new byte[Algorithms.SignatureLength(alg)];
        _p11.SignInit(session, mechanism, key);
        var length = _p11.Sign(session, input, signature);
        return length == signature.Length ? signature : signature[..length];
    }
}
