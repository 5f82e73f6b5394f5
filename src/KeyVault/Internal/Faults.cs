using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault.Internal;

/// <summary>Sorts PKCS#11 return values into what the pool and callers must do about them.</summary>
internal static class Faults
{
    /// <summary>The token or the whole device is gone: every session of the pool is stale.</summary>
    public static bool IsDeviceFault(ulong rv) => rv is CK.CKR_DEVICE_REMOVED or CK.CKR_DEVICE_ERROR
        or CK.CKR_DEVICE_MEMORY or CK.CKR_TOKEN_NOT_PRESENT or CK.CKR_TOKEN_NOT_RECOGNIZED
        or CK.CKR_CRYPTOKI_NOT_INITIALIZED;

    /// <summary>This one session is unusable (closed, or logged out behind our back) and must be replaced.</summary>
    public static bool IsSessionFault(ulong rv) => rv is CK.CKR_SESSION_HANDLE_INVALID or CK.CKR_SESSION_CLOSED
        or CK.CKR_USER_NOT_LOGGED_IN or CK.CKR_OPERATION_ACTIVE;

    /// <summary>
    /// A cached object handle no longer names an object: the token was re-inserted, re-initialised or the object
    /// replaced. The handle must be looked up again by label.
    /// </summary>
    public static bool IsHandleInvalid(ulong rv) => rv is CK.CKR_OBJECT_HANDLE_INVALID or CK.CKR_KEY_HANDLE_INVALID;

    /// <summary>The token refuses the configured user PIN. Retrying would only count towards locking it.</summary>
    public static bool IsPinRefusal(ulong rv) => rv is CK.CKR_PIN_INCORRECT or CK.CKR_PIN_INVALID
        or CK.CKR_PIN_LEN_RANGE or CK.CKR_PIN_EXPIRED or CK.CKR_PIN_LOCKED or CK.CKR_USER_PIN_NOT_INITIALIZED;

    public static bool IsTransient(ulong rv) => IsDeviceFault(rv) || IsSessionFault(rv)
        || rv is CK.CKR_SESSION_COUNT or CK.CKR_HOST_MEMORY;

    /// <summary>Turns a binding error into the vault's vocabulary.</summary>
    public static KeyVaultException Translate(Pkcs11Exception e, string domain, string what) => IsTransient(e.ReturnValue)
        ? new KeyVaultException(KeyVaultErrorKind.HsmUnavailable, $"{what} in domain '{domain}': HSM unavailable ({e.Message})", e)
        : new KeyVaultException(KeyVaultErrorKind.HsmError, $"{what} in domain '{domain}' failed: {e.Message}", e);
}
