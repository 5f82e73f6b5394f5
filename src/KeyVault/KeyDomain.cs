using System.Collections.Concurrent;
using System.Security.Cryptography;
using DTrust.KeyVault.Internal;
using DTrust.KeyVault.Interop;
using Microsoft.Extensions.Logging;

namespace DTrust.KeyVault;

/// <summary>
/// One key domain: one token, its master key, its CA/TSA keys and the credential keys wrapped under it. A domain
/// holds sessions on its own token only; nothing here takes a token or a level from the caller.
/// </summary>
public sealed class KeyDomain : IDisposable
{
    private const int SaltLength = 32;

    // The control credential: a fixed salt and "PIN" that open the domain's control blob. Not secrets: the control
    // only proves that the HSM can still derive a KEK from the master key and unwrap with it.
    private static readonly byte[] ControlSalt = SHA256.HashData("DTrust unwrap control salt v1"u8);
    private static readonly byte[] ControlPin = "DTrust unwrap control"u8.ToArray();

    // What a token object must show before it is used: made in the HSM, never out of it, for its one purpose.
    private static readonly (ulong Attribute, string Name, bool Expected)[] MasterKeyFlags =
    [
        (CK.CKA_LOCAL, nameof(CK.CKA_LOCAL), true),
        (CK.CKA_SENSITIVE, nameof(CK.CKA_SENSITIVE), true),
        (CK.CKA_ALWAYS_SENSITIVE, nameof(CK.CKA_ALWAYS_SENSITIVE), true),
        (CK.CKA_EXTRACTABLE, nameof(CK.CKA_EXTRACTABLE), false),
        (CK.CKA_NEVER_EXTRACTABLE, nameof(CK.CKA_NEVER_EXTRACTABLE), true),
        (CK.CKA_DERIVE, nameof(CK.CKA_DERIVE), true),
        (CK.CKA_ENCRYPT, nameof(CK.CKA_ENCRYPT), false),
        (CK.CKA_DECRYPT, nameof(CK.CKA_DECRYPT), false),
        (CK.CKA_WRAP, nameof(CK.CKA_WRAP), false),
        (CK.CKA_UNWRAP, nameof(CK.CKA_UNWRAP), false),
        (CK.CKA_SIGN, nameof(CK.CKA_SIGN), false),
        (CK.CKA_VERIFY, nameof(CK.CKA_VERIFY), false),
    ];

    private static readonly (ulong Attribute, string Name, bool Expected)[] SigningKeyFlags =
    [
        (CK.CKA_SENSITIVE, nameof(CK.CKA_SENSITIVE), true),
        (CK.CKA_ALWAYS_SENSITIVE, nameof(CK.CKA_ALWAYS_SENSITIVE), true),
        (CK.CKA_EXTRACTABLE, nameof(CK.CKA_EXTRACTABLE), false),
        (CK.CKA_NEVER_EXTRACTABLE, nameof(CK.CKA_NEVER_EXTRACTABLE), true),
        (CK.CKA_SIGN, nameof(CK.CKA_SIGN), true),
    ];

    private readonly IPkcs11 _p11;
    private readonly SessionPool _pool;
    private readonly ILogger _log;
    private readonly Lock _setupLock = new();
    private readonly ConcurrentDictionary<string, HsmSigningKey> _signingKeys = new(StringComparer.Ordinal);
    private ulong _masterKey;
    private int _handleGeneration;
    private byte[]? _controlBlob;

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
    /// Creates the AES-256 master key if the token has none (derive-only, sensitive, non-extractable), and the
    /// domain's control blob. Idempotent. An existing key is checked, not trusted: it must be AES-256, generated in
    /// the HSM (CKA_LOCAL), always sensitive, never extractable and derive-only, or start-up fails (Configuration).
    /// </summary>
    public void EnsureMasterKey() => Run("master key set-up", lease =>
    {
        lock (_setupLock)
        {
            var found = _p11.FindObjects(lease.Handle, Templates.FindMasterKey, 2);
            if (found.Length == 0)
            {
                _masterKey = _p11.GenerateKey(lease.Handle, new Mechanism(CK.CKM_AES_KEY_GEN), Templates.MasterKey);
                Log.MasterKeyCreated(_log, Name);
            }
            else
            {
                _masterKey = CheckedMasterKey(lease.Handle, found);
            }

            ControlBlob(lease.Handle);
            return true;
        }
    });

    /// <summary>Finds the signing key pair labelled <paramref name="label"/>, or generates it as token objects.</summary>
    public HsmSigningKey GetOrCreateSigningKey(string label, KeyAlgorithm alg)
    {
        CheckAlgorithm(alg);
        var key = _signingKeys.TryGetValue(CheckLabel(label), out var cached) ? cached : Run("signing key set-up", lease =>
        {
            lock (_setupLock)
            {
                var existing = FindSigningKey(lease.Handle, label);
                if (existing is not null)
                {
                    return existing;
                }

                var id = RandomNumberGenerator.GetBytes(16);
                var (mechanism, _) = Algorithms.Generation(alg);
                var (pub, priv) = _p11.GenerateKeyPair(
                    lease.Handle,
                    mechanism,
                    Templates.PublicKey(alg, token: true, label, id),
                    Templates.PrivateKey(token: true, extractable: false, label, id));
                Log.SigningKeyCreated(_log, Name, label, alg);
                var spki = Algorithms.ReadSubjectPublicKeyInfo(_p11, lease.Handle, pub, alg);
                return new HsmSigningKey(this, label, priv, HandleGeneration, alg, spki);
            }
        });

        if (key.Algorithm != alg)
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.Configuration,
                $"signing key '{label}' in domain '{Name}' is {key.Algorithm}, not {alg}");
        }

        return _signingKeys.GetOrAdd(label, key);
    }

    /// <summary>The existing signing key labelled <paramref name="label"/>; a missing key is KeyNotFound.</summary>
    public HsmSigningKey GetSigningKey(string label)
    {
        if (_signingKeys.TryGetValue(CheckLabel(label), out var cached))
        {
            return cached;
        }

        var key = Run("signing key lookup", lease => FindSigningKey(lease.Handle, label))
            ?? throw new KeyVaultException(
                KeyVaultErrorKind.KeyNotFound,
                $"token '{TokenLabel}' of domain '{Name}' has no signing key labelled '{label}'; run the set-up");
        return _signingKeys.GetOrAdd(label, key);
    }

    /// <summary>
    /// Generates a credential key pair in the HSM and returns it wrapped under the KEK of <paramref name="pin"/>.
    /// The private key exists in the HSM only as a session object for the duration of this call.
    /// </summary>
    public Task<WrappedCredentialKey> CreateCredentialKeyAsync(KeyAlgorithm alg, ReadOnlyMemory<byte> pin, CancellationToken ct)
    {
        CheckAlgorithm(alg);
        CheckPin(pin);
        var salt = RandomNumberGenerator.GetBytes(SaltLength);
        return RunAsync("credential key creation", lease =>
        {
            ulong pub = 0, priv = 0, kek = 0;
            try
            {
                var (mechanism, _) = Algorithms.Generation(alg);
                (pub, priv) = _p11.GenerateKeyPair(
                    lease.Handle,
                    mechanism,
                    Templates.PublicKey(alg, token: false, label: null, id: null),
                    Templates.PrivateKey(token: false, extractable: true, label: null, id: null));
                kek = DeriveKek(lease.Handle, salt, pin.Span);
                var blob = _p11.WrapKey(lease.Handle, Templates.KeyWrap, kek, priv);
                var spki = Algorithms.ReadSubjectPublicKeyInfo(_p11, lease.Handle, pub, alg);
                return Seal(alg, spki, salt, blob);
            }
            finally
            {
                DestroyAll(lease, priv, pub, kek);
            }
        }, ct);
    }

    /// <summary>Re-wraps a credential key under a new PIN (transport PIN to activation PIN) with a fresh salt.</summary>
    public Task<WrappedCredentialKey> RewrapAsync(
        WrappedCredentialKey key, ReadOnlyMemory<byte> oldPin, ReadOnlyMemory<byte> newPin, CancellationToken ct)
    {
        CheckWrapped(key);
        CheckPin(oldPin);
        CheckPin(newPin);
        var salt = RandomNumberGenerator.GetBytes(SaltLength);
        return RunAsync("credential key re-wrap", lease =>
        {
            ulong oldKek = 0, priv = 0, newKek = 0;
            try
            {
                oldKek = DeriveKek(lease.Handle, key.Salt, oldPin.Span);
                priv = Unwrap(lease, oldKek, key, oldPin.Span, forRewrap: true);
                newKek = DeriveKek(lease.Handle, salt, newPin.Span);
                var blob = _p11.WrapKey(lease.Handle, Templates.KeyWrap, newKek, priv);
                return Seal(key.Algorithm, key.SubjectPublicKeyInfo, salt, blob);
            }
            finally
            {
                DestroyAll(lease, priv, oldKek, newKek);
            }
        }, ct);
    }

    /// <summary>
    /// Unwraps the credential key once and signs every digest with it. Digests must have the scheme's hash length;
    /// the result holds one signature per digest, in order. Every RSA signature is verified against the key's public
    /// half before any leaves: one RSA-CRT computation fault, on any signature of a batch, gives the private key away
    /// (Boneh-DeMillo-Lipton), so a batch with a signature that does not verify is withheld whole (HsmError).
    /// </summary>
    public Task<IReadOnlyList<byte[]>> SignBatchAsync(
        WrappedCredentialKey key,
        ReadOnlyMemory<byte> pin,
        IReadOnlyList<ReadOnlyMemory<byte>> digests,
        SignatureScheme scheme,
        CancellationToken ct)
    {
        CheckWrapped(key);
        CheckPin(pin);
        ArgumentNullException.ThrowIfNull(digests);
        if (digests.Count == 0)
        {
            throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, "no digests to sign");
        }

        Schemes.Validate(key.Algorithm, scheme, digests);
        var mechanism = Schemes.Mechanism(scheme);
        var pkcs1 = !Schemes.IsEcdsa(scheme) && !Schemes.IsPss(scheme);
        var hash = Schemes.Hash(scheme);
        var der = Schemes.IsDer(scheme);
        return RunAsync<IReadOnlyList<byte[]>>("credential signing", lease =>
        {
            ulong kek = 0, priv = 0;
            try
            {
                kek = DeriveKek(lease.Handle, key.Salt, pin.Span);
                priv = Unwrap(lease, kek, key, pin.Span, forRewrap: false);
                var signatures = new byte[digests.Count][];
                for (var i = 0; i < digests.Count; i++)
                {
                    var input = pkcs1 ? Schemes.DigestInfo(hash, digests[i].Span) : digests[i].ToArray();
                    var raw = SignOnce(lease.Handle, mechanism, priv, key.Algorithm, input);
                    signatures[i] = der ? Schemes.P1363ToDer(raw) : raw;
                }

                if (!Schemes.IsEcdsa(scheme))
                {
                    RequireRsaSignaturesVerify(lease, key, digests, signatures, hash, pkcs1 ? RSASignaturePadding.Pkcs1 : RSASignaturePadding.Pss);
                }

                return signatures;
            }
            finally
            {
                DestroyAll(lease, priv, kek);
            }
        }, ct);
    }

    private void RequireRsaSignaturesVerify(
        SessionLease lease, WrappedCredentialKey key, IReadOnlyList<ReadOnlyMemory<byte>> digests, byte[][] signatures,
        HashAlgorithmName hash, RSASignaturePadding padding)
    {
        using var rsa = RSA.Create();
        rsa.ImportSubjectPublicKeyInfo(key.SubjectPublicKeyInfo, out _);
        for (var i = 0; i < signatures.Length; i++)
        {
            if (!rsa.VerifyHash(digests[i].Span, signatures[i], hash, padding))
            {
                Array.ForEach(signatures, s => CryptographicOperations.ZeroMemory(s));
                lease.MarkFaulty($"RSA signature {i + 1} of {signatures.Length} did not verify", deviceWide: false);
                throw new KeyVaultException(
                    KeyVaultErrorKind.HsmError,
                    $"domain '{Name}': the HSM's RSA signature {i + 1} of {signatures.Length} does not verify against the credential's public key; the batch is withheld");
            }
        }
    }

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

    /// <summary>Bumped whenever cached object handles may have gone stale (device fault, invalid handle).</summary>
    internal int HandleGeneration => Volatile.Read(ref _handleGeneration);

    internal byte[] SignWithTokenKey(HsmSigningKey key, in Mechanism mechanism, byte[] input)
    {
        var m = mechanism;
        return Run("token key signing", lease => SignWithTokenKey(lease, key, m, input));
    }

    /// <summary>As <see cref="SignWithTokenKey(HsmSigningKey, in Mechanism, byte[])"/>, waiting for a session without blocking a thread.</summary>
    internal Task<byte[]> SignWithTokenKeyAsync(HsmSigningKey key, Mechanism mechanism, byte[] input, CancellationToken ct) =>
        RunAsync("token key signing", lease => SignWithTokenKey(lease, key, mechanism, input), ct);

    /// <summary>
    /// The handle of a token signing key, looked up again by label after the cached one went stale. The key found
    /// must be the same key (algorithm and public key): a different key under the label would sign for a
    /// certificate it does not match.
    /// </summary>
    internal ulong RefindSigningKey(ulong session, HsmSigningKey key)
    {
        var found = LookUpSigningKey(session, key.Label) ?? throw new KeyVaultException(
            KeyVaultErrorKind.KeyNotFound,
            $"token '{TokenLabel}' of domain '{Name}' no longer holds the signing key labelled '{key.Label}'");
        if (found.Algorithm != key.Algorithm || !found.Spki.AsSpan().SequenceEqual(key.SubjectPublicKeyInfoSpan))
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.Configuration,
                $"the signing key labelled '{key.Label}' in domain '{Name}' is no longer the key it was; refusing to sign with it");
        }

        return found.Handle;
    }

    /// <summary>The cached master key handle, looked up on first use; a missing key is a set-up error.</summary>
    internal ulong MasterKey(ulong session)
    {
        var cached = Volatile.Read(ref _masterKey);
        if (cached != 0)
        {
            return cached;
        }

        var found = _p11.FindObjects(session, Templates.FindMasterKey, 2);
        if (found.Length == 0)
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.KeyNotFound,
                $"token '{TokenLabel}' of domain '{Name}' has no master key; run the set-up (EnsureMasterKey)");
        }

        var handle = CheckedMasterKey(session, found);
        Volatile.Write(ref _masterKey, handle);
        return handle;
    }

    /// <summary>KEK = derive(master, AES-ECB-ENCRYPT-DATA, SHA-256(salt ‖ PIN)), a wrap/unwrap-only session object.</summary>
    internal ulong DeriveKek(ulong session, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> pin)
    {
        var material = new byte[32];
        try
        {
            using (var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                sha.AppendData(salt);
                sha.AppendData(pin);
                sha.GetHashAndReset(material);
            }

            var mechanism = Mechanism.DeriveAesEcb(material);
            try
            {
                return _p11.DeriveKey(session, mechanism, MasterKey(session), Templates.Kek);
            }
            catch (Pkcs11Exception e) when (Faults.IsHandleInvalid(e.ReturnValue))
            {
                // The master key's cached handle went stale (token re-inserted): look it up again, once.
                DropHandles(e.Message);
                return _p11.DeriveKey(session, mechanism, MasterKey(session), Templates.Kek);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(material);
        }
    }

    internal T Run<T>(string what, Func<SessionLease, T> work)
    {
        using var lease = _pool.Rent();
        return Execute(lease, what, work);
    }

    internal async Task<T> RunAsync<T>(string what, Func<SessionLease, T> work, CancellationToken ct)
    {
        await using var lease = await _pool.RentAsync(ct);
        return Execute(lease, what, work);
    }

    private static void CheckAlgorithm(KeyAlgorithm alg)
    {
        if (!Algorithms.IsDefined(alg))
        {
            throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, $"unknown key algorithm {alg}");
        }
    }

    private static void CheckPin(ReadOnlyMemory<byte> pin)
    {
        if (pin.IsEmpty)
        {
            throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, "the PIN is empty");
        }
    }

    private static string CheckLabel(string label) => string.IsNullOrWhiteSpace(label)
        ? throw new KeyVaultException(KeyVaultErrorKind.InvalidInput, "a signing key needs a label")
        : label;

    private T Execute<T>(SessionLease lease, string what, Func<SessionLease, T> work)
    {
        try
        {
            return work(lease);
        }
        catch (Pkcs11Exception e)
        {
            lease.ReportFault(e);
            DropHandlesAfter(e);
            throw Faults.Translate(e, Name, what);
        }
        catch (KeyVaultException e) when (e.InnerException is Pkcs11Exception inner)
        {
            lease.ReportFault(inner);
            DropHandlesAfter(inner);
            throw;
        }
    }

    /// <summary>
    /// After a device fault the token may come back with other object handles, and an invalid handle says it
    /// already has: every cached handle (master key, CA/TSA keys) is looked up again on its next use.
    /// </summary>
    private void DropHandlesAfter(Pkcs11Exception e)
    {
        if (Faults.IsDeviceFault(e.ReturnValue) || Faults.IsHandleInvalid(e.ReturnValue))
        {
            DropHandles(e.Message);
        }
    }

    private void DropHandles(string reason)
    {
        Volatile.Write(ref _masterKey, 0);
        Interlocked.Increment(ref _handleGeneration);
        Log.HandlesDropped(_log, Name, reason);
    }

    private byte[] SignWithTokenKey(SessionLease lease, HsmSigningKey key, in Mechanism mechanism, byte[] input)
    {
        try
        {
            return SignOnce(lease.Handle, mechanism, key.CurrentHandle(lease.Handle), key.Algorithm, input);
        }
        catch (Pkcs11Exception e) when (Faults.IsHandleInvalid(e.ReturnValue))
        {
            // Stale handle: look the key up again by label and sign once more. A second failure is reported.
            DropHandles(e.Message);
            return SignOnce(lease.Handle, mechanism, key.CurrentHandle(lease.Handle), key.Algorithm, input);
        }
    }

    private void CheckWrapped(WrappedCredentialKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!string.Equals(key.Domain, Name, StringComparison.Ordinal))
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.WrongDomain,
                $"the credential key belongs to domain '{key.Domain}', not '{Name}'");
        }

        CheckAlgorithm(key.Algorithm);

        // Checked before the HSM is asked, so that storage damage is never mistaken for a wrong PIN.
        if (key.Salt is not { Length: SaltLength } || key.Blob is null || key.SubjectPublicKeyInfo is null || !key.IsIntact())
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.CorruptKeyBlob,
                "the wrapped credential key does not match its integrity digest");
        }

        // CKM_AES_KEY_WRAP_PAD output is a whole number of 8-byte blocks, at least two. Any other length fails in
        // the HSM whatever the PIN (CKR_WRAPPED_KEY_LEN_RANGE), so it is damage, not a wrong PIN to be counted.
        if (key.Blob.Length < 16 || key.Blob.Length % 8 != 0)
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.CorruptKeyBlob,
                $"the wrapped credential key has {key.Blob.Length} bytes, not a whole number of AES key-wrap blocks");
        }
    }

    /// <summary>
    /// Unwraps a credential key and tells the three causes of failure apart. SoftHSM answers a wrong KEK, a damaged
    /// blob and some device faults all with CKR_GENERAL_ERROR. The blob's integrity digest has already been checked
    /// (damage is CorruptKeyBlob before we get here), so what remains is a wrong KEK or a failing HSM. Only a
    /// positive control settles it: on a fresh session, derive the control KEK and unwrap the domain's control blob.
    /// If that works, the HSM can derive and unwrap, and the only input to the KEK the caller controls is the PIN;
    /// if it fails, the failure is the HSM's, and counting it against the credential would lock out its holder.
    /// A passing control still leaves the leased session itself as a suspect (a session the device half-dropped
    /// fails where a fresh one works), so the credential's own unwrap is tried once more on the fresh session: only
    /// if it fails there too is it the PIN.
    /// </summary>
    private ulong Unwrap(SessionLease lease, ulong kek, WrappedCredentialKey key, ReadOnlySpan<byte> pin, bool forRewrap)
    {
        try
        {
            return _p11.UnwrapKey(lease.Handle, Templates.KeyWrap, kek, key.Blob, Templates.Unwrapped(key.Algorithm, forRewrap));
        }
        catch (Pkcs11Exception e) when (e.ReturnValue == CK.CKR_WRAPPED_KEY_LEN_RANGE)
        {
            // The blob's length alone is refused: no PIN could open it.
            throw new KeyVaultException(KeyVaultErrorKind.CorruptKeyBlob, "the HSM refused the length of the wrapped credential key", e);
        }
        catch (Pkcs11Exception e) when (e.ReturnValue is CK.CKR_GENERAL_ERROR or CK.CKR_WRAPPED_KEY_INVALID
            or CK.CKR_ENCRYPTED_DATA_INVALID or CK.CKR_FUNCTION_FAILED)
        {
            var control = ControlUnwrapFailure(lease.Handle);
            if (control is not null)
            {
                Log.ControlUnwrapFailed(_log, Name, control.Message);
                lease.MarkFaulty($"{e.Function} gave {e.ReturnValueName} and the control unwrap failed", deviceWide: true);
                DropHandles("a failed control unwrap");
                throw new KeyVaultException(
                    KeyVaultErrorKind.HsmUnavailable,
                    $"domain '{Name}': unwrap failed ({e.ReturnValueName}) and the control unwrap on a fresh session failed too ({control.Message})",
                    control);
            }

            if (UnwrapsOnFreshSession(key, pin))
            {
                // The PIN is right and the HSM works: the leased session was the broken part. Transient, so the
                // caller's attempt is given back and a retry leases another session.
                lease.MarkFaulty($"{e.Function} gave {e.ReturnValueName} on this session and worked on a fresh one", deviceWide: false);
                throw new KeyVaultException(
                    KeyVaultErrorKind.HsmUnavailable,
                    $"domain '{Name}': unwrap failed on the leased session ({e.ReturnValueName}) and worked on a fresh one; retry",
                    e);
            }

            throw new KeyVaultException(KeyVaultErrorKind.WrongPin, "the PIN does not open this credential key", e);
        }
    }

    /// <summary>
    /// The credential's unwrap again, on a session of its own with a KEK derived there; true if it opens. Only the
    /// wrong-KEK answers count as "does not open": any other failure is the device's and is thrown as such.
    /// </summary>
    private bool UnwrapsOnFreshSession(WrappedCredentialKey key, ReadOnlySpan<byte> pin)
    {
        ulong session = 0, kek = 0, unwrapped = 0;
        try
        {
            session = _p11.OpenSession(SlotId);
            kek = DeriveKek(session, key.Salt, pin);
            unwrapped = _p11.UnwrapKey(session, Templates.KeyWrap, kek, key.Blob, Templates.Unwrapped(key.Algorithm, forRewrap: false));
            return true;
        }
        catch (Pkcs11Exception e) when (e.ReturnValue is CK.CKR_GENERAL_ERROR or CK.CKR_WRAPPED_KEY_INVALID
            or CK.CKR_ENCRYPTED_DATA_INVALID or CK.CKR_FUNCTION_FAILED)
        {
            return false;
        }
        catch (Pkcs11Exception e)
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.HsmUnavailable, $"domain '{Name}': the retry of the unwrap on a fresh session failed ({e.ReturnValueName})", e);
        }
        finally
        {
            CloseCheckSession(session, unwrapped, kek);
        }
    }

    /// <summary>
    /// The positive control: on a session of its own (the leased one may be the broken part), derive the control
    /// KEK and unwrap the control blob. Returns null when the HSM passed, else what failed.
    /// </summary>
    private Exception? ControlUnwrapFailure(ulong leasedSession)
    {
        ulong session = 0, kek = 0, unwrapped = 0;
        try
        {
            // The blob is made once per domain (at set-up, or here on the leased session if set-up never ran).
            var blob = ControlBlob(leasedSession);
            session = _p11.OpenSession(SlotId);
            kek = DeriveKek(session, ControlSalt, ControlPin);
            unwrapped = _p11.UnwrapKey(session, Templates.KeyWrap, kek, blob, Templates.ControlUnwrapped);
            return null;
        }
        catch (Pkcs11Exception e)
        {
            return e;
        }
        catch (KeyVaultException e)
        {
            return e;
        }
        finally
        {
            CloseCheckSession(session, unwrapped, kek);
        }
    }

    /// <summary>Destroys what a check made on its own session and closes that session, quietly: the check has its answer.</summary>
    private void CloseCheckSession(ulong session, ulong unwrapped, ulong kek)
    {
        if (session == 0)
        {
            return;
        }

        DestroyQuietly(session, unwrapped);
        DestroyQuietly(session, kek);
        try
        {
            _p11.CloseSession(session);
        }
        catch (Pkcs11Exception)
        {
            // The session's objects go with it; on a failing device the close may fail too.
        }
    }

    /// <summary>
    /// The domain's control blob: a throw-away AES key wrapped under the KEK of <see cref="ControlSalt"/> and
    /// <see cref="ControlPin"/>. It opens as long as the master key and the HSM work, whatever any credential PIN is.
    /// </summary>
    private byte[] ControlBlob(ulong session)
    {
        if (Volatile.Read(ref _controlBlob) is { } existing)
        {
            return existing;
        }

        ulong key = 0, kek = 0;
        try
        {
            key = _p11.GenerateKey(session, new Mechanism(CK.CKM_AES_KEY_GEN), Templates.ControlKey);
            kek = DeriveKek(session, ControlSalt, ControlPin);
            var blob = _p11.WrapKey(session, Templates.KeyWrap, kek, key);
            Interlocked.CompareExchange(ref _controlBlob, blob, null);
            return Volatile.Read(ref _controlBlob)!;
        }
        finally
        {
            DestroyQuietly(session, key);
            DestroyQuietly(session, kek);
        }
    }

    private void DestroyQuietly(ulong session, ulong handle)
    {
        if (handle == 0)
        {
            return;
        }

        try
        {
            _p11.DestroyObject(session, handle);
        }
        catch (Pkcs11Exception e)
        {
            // Session objects die with their session; the callers close or replace it on a device fault.
            Log.DestroyFailed(_log, Name, e.Message);
        }
    }

    private byte[] SignOnce(ulong session, in Mechanism mechanism, ulong key, KeyAlgorithm alg, byte[] input)
    {
        // One C_Sign with a buffer of the final size: a length query would leave the operation active on SoftHSM.
        var signature = new byte[Algorithms.SignatureLength(alg)];
        _p11.SignInit(session, mechanism, key);
        var length = _p11.Sign(session, input, signature);
        return length == signature.Length ? signature : signature[..length];
    }

    private WrappedCredentialKey Seal(KeyAlgorithm alg, byte[] spki, byte[] salt, byte[] blob) =>
        new(Name, alg, spki, salt, blob, WrappedCredentialKey.ComputeDigest(Name, alg, spki, salt, blob));

    private ulong CheckedMasterKey(ulong session, ulong[] found)
    {
        if (found.Length > 1)
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.Configuration,
                $"token '{TokenLabel}' of domain '{Name}' holds several master keys labelled '{Templates.MasterKeyLabel}'");
        }

        // An existing key is checked, not trusted: an imported key (not CKA_LOCAL, once extractable or once not
        // sensitive) may have a copy outside the HSM, and a key with any other usage can hand out KEKs in clear.
        if (ULongAttribute(session, found[0], CK.CKA_KEY_TYPE) != CK.CKK_AES || ULongAttribute(session, found[0], CK.CKA_VALUE_LEN) != 32)
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.Configuration,
                $"the master key of domain '{Name}' is not an AES-256 key; refusing to use it");
        }

        CheckFlags(session, found[0], $"the master key of domain '{Name}'", MasterKeyFlags);
        return found[0];
    }

    private HsmSigningKey? FindSigningKey(ulong session, string label) => LookUpSigningKey(session, label) is { } found
        ? new HsmSigningKey(this, label, found.Handle, HandleGeneration, found.Algorithm, found.Spki)
        : null;

    /// <summary>Finds the key pair labelled <paramref name="label"/> and checks its private key before trusting it.</summary>
    private (ulong Handle, KeyAlgorithm Algorithm, byte[] Spki)? LookUpSigningKey(ulong session, string label)
    {
        var privates = _p11.FindObjects(session, Templates.FindByLabel(CK.CKO_PRIVATE_KEY, label), 2);
        if (privates.Length == 0)
        {
            return null;
        }

        var publics = _p11.FindObjects(session, Templates.FindByLabel(CK.CKO_PUBLIC_KEY, label), 2);
        if (privates.Length > 1 || publics.Length != 1)
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.Configuration,
                $"token '{TokenLabel}' of domain '{Name}' does not hold exactly one key pair labelled '{label}'");
        }

        CheckFlags(session, privates[0], $"signing key '{label}' in domain '{Name}'", SigningKeyFlags);
        var alg = Algorithms.Identify(_p11, session, publics[0]);
        var spki = Algorithms.ReadSubjectPublicKeyInfo(_p11, session, publics[0], alg);
        return (privates[0], alg, spki);
    }

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

    private ulong ULongAttribute(ulong session, ulong handle, ulong attribute) =>
        _p11.GetAttributeValue(session, handle, attribute) is { Length: 8 } value ? BitConverter.ToUInt64(value) : ulong.MaxValue;

    /// <summary>
    /// Destroys session objects without masking the error that brought us here. If a destroy fails, the session is
    /// closed instead, which destroys its session objects too.
    /// </summary>
    private void DestroyAll(SessionLease lease, params ReadOnlySpan<ulong> handles)
    {
        foreach (var handle in handles)
        {
            if (handle == 0)
            {
                continue;
            }

            try
            {
                _p11.DestroyObject(lease.Handle, handle);
            }
            catch (Pkcs11Exception e)
            {
                Log.DestroyFailed(_log, Name, e.Message);
                lease.MarkFaulty(e.Message, Faults.IsDeviceFault(e.ReturnValue));
            }
        }
    }
}
