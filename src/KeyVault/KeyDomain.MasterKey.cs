using System.Security.Cryptography;
using DTrust.KeyVault.Internal;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault;

// The master key (derive-only AES-256, made in the HSM) and the KEKs derived from it: the only code that finds or
// checks the master key (Sessions only forgets its handle), and a KEK exists only as a session object.
public sealed partial class KeyDomain
{
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

    private ulong _masterKey;

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

    private ulong ULongAttribute(ulong session, ulong handle, ulong attribute) =>
        _p11.GetAttributeValue(session, handle, attribute) is { Length: 8 } value ? BitConverter.ToUInt64(value) : ulong.MaxValue;
}
