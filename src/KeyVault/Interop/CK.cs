namespace DTrust.KeyVault.Interop;

/// <summary>
/// PKCS#11 v2.40 constants the vault uses, with the spec's names so that a reader can look them up. CK_ULONG is
/// 8 bytes on linux-x64, the only platform this binding targets.
/// </summary>
internal static class CK
{
    // Return values.
    public const ulong CKR_OK = 0x0;
    public const ulong CKR_HOST_MEMORY = 0x2;
    public const ulong CKR_SLOT_ID_INVALID = 0x3;
    public const ulong CKR_GENERAL_ERROR = 0x5;
    public const ulong CKR_FUNCTION_FAILED = 0x6;
    public const ulong CKR_ARGUMENTS_BAD = 0x7;
    public const ulong CKR_ATTRIBUTE_SENSITIVE = 0x11;
    public const ulong CKR_ATTRIBUTE_TYPE_INVALID = 0x12;
    public const ulong CKR_ATTRIBUTE_VALUE_INVALID = 0x13;
    public const ulong CKR_DATA_INVALID = 0x20;
    public const ulong CKR_DATA_LEN_RANGE = 0x21;
    public const ulong CKR_DEVICE_ERROR = 0x30;
    public const ulong CKR_DEVICE_MEMORY = 0x31;
    public const ulong CKR_DEVICE_REMOVED = 0x32;
    public const ulong CKR_ENCRYPTED_DATA_INVALID = 0x40;
    public const ulong CKR_FUNCTION_NOT_SUPPORTED = 0x54;
    public const ulong CKR_KEY_HANDLE_INVALID = 0x60;
    public const ulong CKR_KEY_SIZE_RANGE = 0x62;
    public const ulong CKR_KEY_TYPE_INCONSISTENT = 0x63;
    public const ulong CKR_KEY_FUNCTION_NOT_PERMITTED = 0x68;
    public const ulong CKR_KEY_NOT_WRAPPABLE = 0x69;
    public const ulong CKR_KEY_UNEXTRACTABLE = 0x6A;
    public const ulong CKR_MECHANISM_INVALID = 0x70;
    public const ulong CKR_MECHANISM_PARAM_INVALID = 0x71;
    public const ulong CKR_OBJECT_HANDLE_INVALID = 0x82;
    public const ulong CKR_OPERATION_ACTIVE = 0x90;
    public const ulong CKR_OPERATION_NOT_INITIALIZED = 0x91;
    public const ulong CKR_PIN_INCORRECT = 0xA0;
    public const ulong CKR_PIN_INVALID = 0xA1;
    public const ulong CKR_PIN_LEN_RANGE = 0xA2;
    public const ulong CKR_PIN_EXPIRED = 0xA3;
    public const ulong CKR_PIN_LOCKED = 0xA4;
    public const ulong CKR_SESSION_CLOSED = 0xB0;
    public const ulong CKR_SESSION_COUNT = 0xB1;
    public const ulong CKR_SESSION_HANDLE_INVALID = 0xB3;
    public const ulong CKR_SESSION_READ_ONLY = 0xB5;
    public const ulong CKR_SIGNATURE_INVALID = 0xC0;
    public const ulong CKR_SIGNATURE_LEN_RANGE = 0xC1;
    public const ulong CKR_TEMPLATE_INCOMPLETE = 0xD0;
    public const ulong CKR_TEMPLATE_INCONSISTENT = 0xD1;
    public const ulong CKR_TOKEN_NOT_PRESENT = 0xE0;
    public const ulong CKR_TOKEN_NOT_RECOGNIZED = 0xE1;
    public const ulong CKR_UNWRAPPING_KEY_HANDLE_INVALID = 0xF0;
    public const ulong CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT = 0xF2;
    public const ulong CKR_USER_ALREADY_LOGGED_IN = 0x100;
    public const ulong CKR_USER_NOT_LOGGED_IN = 0x101;
    public const ulong CKR_USER_PIN_NOT_INITIALIZED = 0x102;
    public const ulong CKR_WRAPPED_KEY_INVALID = 0x110;
    public const ulong CKR_WRAPPED_KEY_LEN_RANGE = 0x112;
    public const ulong CKR_WRAPPING_KEY_HANDLE_INVALID = 0x113;
    public const ulong CKR_WRAPPING_KEY_TYPE_INCONSISTENT = 0x115;
    public const ulong CKR_CURVE_NOT_SUPPORTED = 0x140;
    public const ulong CKR_BUFFER_TOO_SMALL = 0x150;
    public const ulong CKR_CRYPTOKI_NOT_INITIALIZED = 0x190;
    public const ulong CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191;

    // Flags.
    public const ulong CKF_TOKEN_PRESENT = 0x1;
    public const ulong CKF_OS_LOCKING_OK = 0x2;
    public const ulong CKF_RW_SESSION = 0x2;
    public const ulong CKF_SERIAL_SESSION = 0x4;
    public const ulong CKF_USER_PIN_COUNT_LOW = 0x10000;
    public const ulong CKF_USER_PIN_FINAL_TRY = 0x20000;
    public const ulong CKF_USER_PIN_LOCKED = 0x40000;

    public const ulong CKU_USER = 1;

    // Object classes and key types.
    public const ulong CKO_PUBLIC_KEY = 2;
    public const ulong CKO_PRIVATE_KEY = 3;
    public const ulong CKO_SECRET_KEY = 4;
    public const ulong CKK_RSA = 0x0;
    public const ulong CKK_EC = 0x3;
    public const ulong CKK_AES = 0x1F;

    // Attributes.
    public const ulong CKA_CLASS = 0x0;
    public const ulong CKA_TOKEN = 0x1;
    public const ulong CKA_PRIVATE = 0x2;
    public const ulong CKA_LABEL = 0x3;
    public const ulong CKA_VALUE = 0x11;
    public const ulong CKA_KEY_TYPE = 0x100;
    public const ulong CKA_ID = 0x102;
    public const ulong CKA_SENSITIVE = 0x103;
    public const ulong CKA_ENCRYPT = 0x104;
    public const ulong CKA_DECRYPT = 0x105;
    public const ulong CKA_WRAP = 0x106;
    public const ulong CKA_UNWRAP = 0x107;
    public const ulong CKA_SIGN = 0x108;
    public const ulong CKA_VERIFY = 0x10A;
    public const ulong CKA_DERIVE = 0x10C;
    public const ulong CKA_MODULUS = 0x120;
    public const ulong CKA_MODULUS_BITS = 0x121;
    public const ulong CKA_PUBLIC_EXPONENT = 0x122;
    public const ulong CKA_VALUE_LEN = 0x161;
    public const ulong CKA_EXTRACTABLE = 0x162;
    public const ulong CKA_LOCAL = 0x163;
    public const ulong CKA_NEVER_EXTRACTABLE = 0x164;
    public const ulong CKA_ALWAYS_SENSITIVE = 0x165;
    public const ulong CKA_EC_PARAMS = 0x180;
    public const ulong CKA_EC_POINT = 0x181;

    // Mechanisms.
    public const ulong CKM_RSA_PKCS_KEY_PAIR_GEN = 0x0;
    public const ulong CKM_RSA_PKCS = 0x1;
    public const ulong CKM_RSA_PKCS_PSS = 0xD;
    public const ulong CKM_SHA256 = 0x250;
    public const ulong CKM_SHA384 = 0x260;
    public const ulong CKM_SHA512 = 0x270;
    public const ulong CKM_EC_KEY_PAIR_GEN = 0x1040;
    public const ulong CKM_ECDSA = 0x1041;
    public const ulong CKM_AES_KEY_GEN = 0x1080;
    public const ulong CKM_AES_ECB = 0x1081;
    public const ulong CKM_AES_ECB_ENCRYPT_DATA = 0x1104;
    public const ulong CKM_AES_KEY_WRAP_PAD = 0x210A;

    public const ulong CKG_MGF1_SHA256 = 0x2;
    public const ulong CKG_MGF1_SHA384 = 0x3;
    public const ulong CKG_MGF1_SHA512 = 0x4;

    /// <summary>The CKR_ name of a return value, for exception messages and logs.</summary>
    public static string ReturnValueName(ulong rv) => rv switch
    {
        CKR_OK => nameof(CKR_OK),
        CKR_HOST_MEMORY => nameof(CKR_HOST_MEMORY),
        CKR_SLOT_ID_INVALID => nameof(CKR_SLOT_ID_INVALID),
        CKR_GENERAL_ERROR => nameof(CKR_GENERAL_ERROR),
        CKR_FUNCTION_FAILED => nameof(CKR_FUNCTION_FAILED),
        CKR_ARGUMENTS_BAD => nameof(CKR_ARGUMENTS_BAD),
        CKR_ATTRIBUTE_SENSITIVE => nameof(CKR_ATTRIBUTE_SENSITIVE),
        CKR_ATTRIBUTE_TYPE_INVALID => nameof(CKR_ATTRIBUTE_TYPE_INVALID),
        CKR_ATTRIBUTE_VALUE_INVALID => nameof(CKR_ATTRIBUTE_VALUE_INVALID),
        CKR_DATA_INVALID => nameof(CKR_DATA_INVALID),
        CKR_DATA_LEN_RANGE => nameof(CKR_DATA_LEN_RANGE),
        CKR_DEVICE_ERROR => nameof(CKR_DEVICE_ERROR),
        CKR_DEVICE_MEMORY => nameof(CKR_DEVICE_MEMORY),
        CKR_DEVICE_REMOVED => nameof(CKR_DEVICE_REMOVED),
        CKR_ENCRYPTED_DATA_INVALID => nameof(CKR_ENCRYPTED_DATA_INVALID),
        CKR_FUNCTION_NOT_SUPPORTED => nameof(CKR_FUNCTION_NOT_SUPPORTED),
        CKR_KEY_HANDLE_INVALID => nameof(CKR_KEY_HANDLE_INVALID),
        CKR_KEY_SIZE_RANGE => nameof(CKR_KEY_SIZE_RANGE),
        CKR_KEY_TYPE_INCONSISTENT => nameof(CKR_KEY_TYPE_INCONSISTENT),
        CKR_KEY_FUNCTION_NOT_PERMITTED => nameof(CKR_KEY_FUNCTION_NOT_PERMITTED),
        CKR_KEY_NOT_WRAPPABLE => nameof(CKR_KEY_NOT_WRAPPABLE),
        CKR_KEY_UNEXTRACTABLE => nameof(CKR_KEY_UNEXTRACTABLE),
        CKR_MECHANISM_INVALID => nameof(CKR_MECHANISM_INVALID),
        CKR_MECHANISM_PARAM_INVALID => nameof(CKR_MECHANISM_PARAM_INVALID),
        CKR_OBJECT_HANDLE_INVALID => nameof(CKR_OBJECT_HANDLE_INVALID),
        CKR_OPERATION_ACTIVE => nameof(CKR_OPERATION_ACTIVE),
        CKR_OPERATION_NOT_INITIALIZED => nameof(CKR_OPERATION_NOT_INITIALIZED),
        CKR_PIN_INCORRECT => nameof(CKR_PIN_INCORRECT),
        CKR_PIN_INVALID => nameof(CKR_PIN_INVALID),
        CKR_PIN_LEN_RANGE => nameof(CKR_PIN_LEN_RANGE),
        CKR_PIN_EXPIRED => nameof(CKR_PIN_EXPIRED),
        CKR_PIN_LOCKED => nameof(CKR_PIN_LOCKED),
        CKR_SESSION_CLOSED => nameof(CKR_SESSION_CLOSED),
        CKR_SESSION_COUNT => nameof(CKR_SESSION_COUNT),
        CKR_SESSION_HANDLE_INVALID => nameof(CKR_SESSION_HANDLE_INVALID),
        CKR_SESSION_READ_ONLY => nameof(CKR_SESSION_READ_ONLY),
        CKR_SIGNATURE_INVALID => nameof(CKR_SIGNATURE_INVALID),
        CKR_SIGNATURE_LEN_RANGE => nameof(CKR_SIGNATURE_LEN_RANGE),
        CKR_TEMPLATE_INCOMPLETE => nameof(CKR_TEMPLATE_INCOMPLETE),
        CKR_TEMPLATE_INCONSISTENT => nameof(CKR_TEMPLATE_INCONSISTENT),
        CKR_TOKEN_NOT_PRESENT => nameof(CKR_TOKEN_NOT_PRESENT),
        CKR_TOKEN_NOT_RECOGNIZED => nameof(CKR_TOKEN_NOT_RECOGNIZED),
        CKR_UNWRAPPING_KEY_HANDLE_INVALID => nameof(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
        CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT => nameof(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
        CKR_USER_ALREADY_LOGGED_IN => nameof(CKR_USER_ALREADY_LOGGED_IN),
        CKR_USER_NOT_LOGGED_IN => nameof(CKR_USER_NOT_LOGGED_IN),
        CKR_USER_PIN_NOT_INITIALIZED => nameof(CKR_USER_PIN_NOT_INITIALIZED),
        CKR_WRAPPED_KEY_INVALID => nameof(CKR_WRAPPED_KEY_INVALID),
        CKR_WRAPPED_KEY_LEN_RANGE => nameof(CKR_WRAPPED_KEY_LEN_RANGE),
        CKR_WRAPPING_KEY_HANDLE_INVALID => nameof(CKR_WRAPPING_KEY_HANDLE_INVALID),
        CKR_WRAPPING_KEY_TYPE_INCONSISTENT => nameof(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
        CKR_CURVE_NOT_SUPPORTED => nameof(CKR_CURVE_NOT_SUPPORTED),
        CKR_BUFFER_TOO_SMALL => nameof(CKR_BUFFER_TOO_SMALL),
        CKR_CRYPTOKI_NOT_INITIALIZED => nameof(CKR_CRYPTOKI_NOT_INITIALIZED),
        CKR_CRYPTOKI_ALREADY_INITIALIZED => nameof(CKR_CRYPTOKI_ALREADY_INITIALIZED),
        _ => $"CKR_0x{rv:X}",
    };
}
