using System.Security.Cryptography;
using DTrust.KeyVault.Internal;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault;

// Unwrapping a credential key, and the positive control that decides whether a failed unwrap is the PIN's fault or
// the HSM's: a wrong PIN counts against the holder, an HSM fault must not.
public sealed partial class KeyDomain
{
    // The control credential: a fixed salt and "PIN" that open the domain's control blob. Not secrets: the control
    // only proves that the HSM can still derive a KEK from the master key and unwrap with it.
    private static readonly byte[] ControlSalt = SHA256.HashData("DTrust unwrap control salt v1"u8);
    private static readonly byte[] ControlPin = "DTrust unwrap control"u8.ToArray();

    private byte[]? _controlBlob;

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
}
