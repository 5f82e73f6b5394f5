namespace DTrust.KeyVault.Interop;

/// <summary>
/// The narrow seam between the vault's logic and the native function list: the calls the vault makes, in managed
/// shapes. <see cref="Pkcs11InteropAdapter"/> (over Pkcs11Interop) is the real binding; tests wrap it in a decorator that returns chosen CK_RVs
/// (CKR_DEVICE_REMOVED, CKR_PIN_INCORRECT, ...) for chosen calls and forwards the rest to SoftHSM.
/// Every method throws <see cref="Pkcs11Exception"/> for a CK_RV other than CKR_OK.
/// </summary>
internal interface IPkcs11
{
    ulong[] GetSlotList(bool tokenPresent);

    TokenInfo GetTokenInfo(ulong slotId);

    /// <summary>Opens a read-write serial session.</summary>
    ulong OpenSession(ulong slotId);

    void CloseSession(ulong session);

    SessionInfo GetSessionInfo(ulong session);

    /// <summary>C_Login as CKU_USER. CKR_USER_ALREADY_LOGGED_IN is thrown like any other code; callers decide.</summary>
    void Login(ulong session, byte[] pin);

    ulong[] FindObjects(ulong session, ReadOnlySpan<Attr> template, int maxCount);

    byte[] GetAttributeValue(ulong session, ulong handle, ulong type);

    ulong GenerateKey(ulong session, in Mechanism mechanism, ReadOnlySpan<Attr> template);

    (ulong PublicKey, ulong PrivateKey) GenerateKeyPair(
        ulong session, in Mechanism mechanism, ReadOnlySpan<Attr> publicTemplate, ReadOnlySpan<Attr> privateTemplate);

    ulong DeriveKey(ulong session, in Mechanism mechanism, ulong baseKey, ReadOnlySpan<Attr> template);

    byte[] WrapKey(ulong session, in Mechanism mechanism, ulong wrappingKey, ulong key);

    ulong UnwrapKey(
        ulong session, in Mechanism mechanism, ulong unwrappingKey, byte[] wrapped, ReadOnlySpan<Attr> template);

    void SignInit(ulong session, in Mechanism mechanism, ulong key);

    /// <summary>
    /// C_Sign into a buffer that must already be large enough: SoftHSM leaves the operation active after a length
    /// query or a short buffer, so there is deliberately no length query here.
    /// </summary>
    int Sign(ulong session, byte[] data, byte[] signature);

    void EncryptInit(ulong session, in Mechanism mechanism, ulong key);

    void DecryptInit(ulong session, in Mechanism mechanism, ulong key);

    void DestroyObject(ulong session, ulong handle);
}

/// <summary>One CK_ATTRIBUTE of a template, with its value already encoded (CK_BBOOL 1 byte, CK_ULONG 8 bytes).</summary>
internal readonly record struct Attr(ulong Type, byte[] Value)
{
    private static readonly byte[] True = [1];
    private static readonly byte[] False = [0];

    public static Attr Bool(ulong type, bool value) => new(type, value ? True : False);

    /// <summary>CK_ULONG attributes must be 8 bytes on linux-x64, or SoftHSM silently matches nothing.</summary>
    public static Attr ULong(ulong type, ulong value) => new(type, BitConverter.GetBytes(value));

    public static Attr Utf8(ulong type, string value) => new(type, System.Text.Encoding.UTF8.GetBytes(value));
}

/// <summary>
/// A CK_MECHANISM. <see cref="Parameter"/> is copied as the parameter block, except for
/// <see cref="ParameterIsDerivationString"/>, where the binding builds CK_KEY_DERIVATION_STRING_DATA around it
/// (that struct holds a pointer, so it cannot be encoded ahead of the call).
/// </summary>
internal readonly record struct Mechanism(ulong Type, byte[]? Parameter = null, bool ParameterIsDerivationString = false)
{
    public static Mechanism DeriveAesEcb(byte[] data) => new(CK.CKM_AES_ECB_ENCRYPT_DATA, data, true);

    /// <summary>CK_RSA_PKCS_PSS_PARAMS: three CK_ULONGs, 24 bytes on linux-x64.</summary>
    public static Mechanism RsaPss(ulong hashMechanism, ulong mgf, ulong saltLength)
    {
        var p = new byte[24];
        BitConverter.TryWriteBytes(p.AsSpan(0, 8), hashMechanism);
        BitConverter.TryWriteBytes(p.AsSpan(8, 8), mgf);
        BitConverter.TryWriteBytes(p.AsSpan(16, 8), saltLength);
        return new Mechanism(CK.CKM_RSA_PKCS_PSS, p);
    }
}

/// <summary>The parts of CK_TOKEN_INFO the vault reads; strings are trimmed of the spec's space padding.</summary>
internal readonly record struct TokenInfo(string Label, string Manufacturer, string Model, string SerialNumber, ulong Flags);

internal readonly record struct SessionInfo(ulong SlotId, ulong State, ulong Flags, ulong DeviceError);
