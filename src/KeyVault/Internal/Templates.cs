using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault.Internal;

/// <summary>
/// Object templates. Every usage is spelled out: SoftHSM turns ENCRYPT, DECRYPT, WRAP, UNWRAP and SIGN on by default
/// for new AES keys and DECRYPT/UNWRAP on for unwrapped keys, and a usage left on is a way out for key material.
/// </summary>
internal static class Templates
{
    public const string MasterKeyLabel = "dtrust-master";

    public static readonly Mechanism KeyWrap = new(CK.CKM_AES_KEY_WRAP_PAD);

    /// <summary>AES-256 master key: token object that may derive and do nothing else.</summary>
    public static readonly Attr[] MasterKey =
    [
        Attr.ULong(CK.CKA_CLASS, CK.CKO_SECRET_KEY),
        Attr.ULong(CK.CKA_KEY_TYPE, CK.CKK_AES),
        Attr.ULong(CK.CKA_VALUE_LEN, 32),
        Attr.Utf8(CK.CKA_LABEL, MasterKeyLabel),
        Attr.Bool(CK.CKA_TOKEN, true),
        Attr.Bool(CK.CKA_PRIVATE, true),
        Attr.Bool(CK.CKA_SENSITIVE, true),
        Attr.Bool(CK.CKA_EXTRACTABLE, false),
        Attr.Bool(CK.CKA_DERIVE, true),
        Attr.Bool(CK.CKA_ENCRYPT, false),
        Attr.Bool(CK.CKA_DECRYPT, false),
        Attr.Bool(CK.CKA_WRAP, false),
        Attr.Bool(CK.CKA_UNWRAP, false),
        Attr.Bool(CK.CKA_SIGN, false),
        Attr.Bool(CK.CKA_VERIFY, false),
    ];

    private static readonly Attr[] NoUsage =
    [
        Attr.Bool(CK.CKA_ENCRYPT, false),
        Attr.Bool(CK.CKA_DECRYPT, false),
        Attr.Bool(CK.CKA_WRAP, false),
        Attr.Bool(CK.CKA_UNWRAP, false),
        Attr.Bool(CK.CKA_SIGN, false),
        Attr.Bool(CK.CKA_VERIFY, false),
        Attr.Bool(CK.CKA_DERIVE, false),
    ];

    public static readonly Attr[] FindMasterKey =
    [
        Attr.ULong(CK.CKA_CLASS, CK.CKO_SECRET_KEY),
        Attr.Utf8(CK.CKA_LABEL, MasterKeyLabel),
    ];

    /// <summary>Per-credential KEK: session object that may wrap and unwrap and nothing else.</summary>
    public static readonly Attr[] Kek =
    [
        Attr.ULong(CK.CKA_CLASS, CK.CKO_SECRET_KEY),
        Attr.ULong(CK.CKA_KEY_TYPE, CK.CKK_AES),
        Attr.ULong(CK.CKA_VALUE_LEN, 32),
        Attr.Bool(CK.CKA_TOKEN, false),
        Attr.Bool(CK.CKA_PRIVATE, true),
        Attr.Bool(CK.CKA_SENSITIVE, true),
        Attr.Bool(CK.CKA_EXTRACTABLE, false),
        Attr.Bool(CK.CKA_WRAP, true),
        Attr.Bool(CK.CKA_UNWRAP, true),
        Attr.Bool(CK.CKA_ENCRYPT, false),
        Attr.Bool(CK.CKA_DECRYPT, false),
        Attr.Bool(CK.CKA_SIGN, false),
        Attr.Bool(CK.CKA_VERIFY, false),
        Attr.Bool(CK.CKA_DERIVE, false),
    ];

    /// <summary>
    /// The control key of a domain: an AES-256 session object with no usage at all, extractable only so that it can
    /// be wrapped once into the domain's control blob (see <see cref="KeyDomain"/>), then destroyed.
    /// </summary>
    public static readonly Attr[] ControlKey =
    [
        Attr.ULong(CK.CKA_CLASS, CK.CKO_SECRET_KEY),
        Attr.ULong(CK.CKA_KEY_TYPE, CK.CKK_AES),
        Attr.ULong(CK.CKA_VALUE_LEN, 32),
        Attr.Bool(CK.CKA_TOKEN, false),
        Attr.Bool(CK.CKA_PRIVATE, true),
        Attr.Bool(CK.CKA_SENSITIVE, true),
        Attr.Bool(CK.CKA_EXTRACTABLE, true),
        .. NoUsage,
    ];

    /// <summary>The control key as unwrapped by the health control: not extractable, no usage, destroyed at once.</summary>
    public static readonly Attr[] ControlUnwrapped =
    [
        Attr.ULong(CK.CKA_CLASS, CK.CKO_SECRET_KEY),
        Attr.ULong(CK.CKA_KEY_TYPE, CK.CKK_AES),
        Attr.Bool(CK.CKA_TOKEN, false),
        Attr.Bool(CK.CKA_PRIVATE, true),
        Attr.Bool(CK.CKA_SENSITIVE, true),
        Attr.Bool(CK.CKA_EXTRACTABLE, false),
        .. NoUsage,
    ];

    /// <summary>Public half: verify only. Token object for CA/TSA keys, session object for credential keys.</summary>
    public static Attr[] PublicKey(KeyAlgorithm alg, bool token, string? label, byte[]? id)
    {
        var (_, specific) = Algorithms.Generation(alg);
        List<Attr> t =
        [
            .. specific,
            Attr.Bool(CK.CKA_TOKEN, token),
            Attr.Bool(CK.CKA_PRIVATE, false),
            Attr.Bool(CK.CKA_VERIFY, true),
            Attr.Bool(CK.CKA_ENCRYPT, false),
            Attr.Bool(CK.CKA_WRAP, false),
            Attr.Bool(CK.CKA_DERIVE, false),
        ];
        AddName(t, label, id);
        return [.. t];
    }

    /// <summary>
    /// Private half as generated: sign only. Credential keys must be extractable (to be wrapped) and are session
    /// objects destroyed after wrapping; token keys are never extractable.
    /// </summary>
    public static Attr[] PrivateKey(bool token, bool extractable, string? label, byte[]? id)
    {
        List<Attr> t =
        [
            Attr.Bool(CK.CKA_TOKEN, token),
            Attr.Bool(CK.CKA_PRIVATE, true),
            Attr.Bool(CK.CKA_SENSITIVE, true),
            Attr.Bool(CK.CKA_EXTRACTABLE, extractable),
            Attr.Bool(CK.CKA_SIGN, true),
            Attr.Bool(CK.CKA_DECRYPT, false),
            Attr.Bool(CK.CKA_UNWRAP, false),
            Attr.Bool(CK.CKA_DERIVE, false),
        ];
        AddName(t, label, id);
        return [.. t];
    }

    /// <summary>
    /// An unwrapped credential key: session object, explicitly sensitive (SoftHSM defaults it to false). For
    /// signing it is non-extractable; for re-wrapping it is extractable and may not sign.
    /// </summary>
    public static Attr[] Unwrapped(KeyAlgorithm alg, bool forRewrap) =>
    [
        Attr.ULong(CK.CKA_CLASS, CK.CKO_PRIVATE_KEY),
        Attr.ULong(CK.CKA_KEY_TYPE, Algorithms.KeyType(alg)),
        Attr.Bool(CK.CKA_TOKEN, false),
        Attr.Bool(CK.CKA_PRIVATE, true),
        Attr.Bool(CK.CKA_SENSITIVE, true),
        Attr.Bool(CK.CKA_EXTRACTABLE, forRewrap),
        Attr.Bool(CK.CKA_SIGN, !forRewrap),
        Attr.Bool(CK.CKA_DECRYPT, false),
        Attr.Bool(CK.CKA_UNWRAP, false),
        Attr.Bool(CK.CKA_DERIVE, false),
    ];

    public static Attr[] FindByLabel(ulong objectClass, string label) =>
        [Attr.ULong(CK.CKA_CLASS, objectClass), Attr.Utf8(CK.CKA_LABEL, label)];

    private static void AddName(List<Attr> template, string? label, byte[]? id)
    {
        if (label is not null)
        {
            template.Add(Attr.Utf8(CK.CKA_LABEL, label));
        }

        if (id is not null)
        {
            template.Add(new Attr(CK.CKA_ID, id));
        }
    }
}
