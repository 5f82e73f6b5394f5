using System.Runtime.InteropServices;
using System.Text;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.LowLevelAPI80;

namespace DTrust.KeyVault.Interop;

/// <summary>
/// The vault's <see cref="IPkcs11"/> over Pkcs11Interop's LowLevelAPI80 (CK_ULONG is 8 bytes on linux-x64; the 81
/// API misreads the function list there). The only file that names <c>Net.Pkcs11Interop</c>: nothing of the package
/// leaves this class, and its errors come out as our <see cref="Pkcs11Exception"/> (function name + CK_RV).
/// </summary>
/// <remarks>
/// The low-level API is used throughout so that every call is exactly one PKCS#11 call we chose: C_Sign gets a
/// buffer of the final size (no length query, which would leave the operation active on SoftHSM), and mechanism
/// parameters and templates live in native memory we allocate, wipe and free ourselves. A module is loaded and
/// initialised once per process and never finalised: C_Finalize would pull every session and login from under any
/// other user of the module in this process, so the instance is kept in a static table and never disposed.
/// </remarks>
internal sealed unsafe class Pkcs11InteropAdapter : IPkcs11
{
    private const ulong UnavailableInformation = ulong.MaxValue;

    private static readonly Dictionary<string, Pkcs11InteropAdapter> Loaded = new(StringComparer.Ordinal);
    private static bool s_resolverSet;

    private readonly Pkcs11Library _lib;

    private Pkcs11InteropAdapter(Pkcs11Library lib, string path)
    {
        _lib = lib;
        ModulePath = path;
    }

    public string ModulePath { get; }

    /// <summary>Loads and initialises a module once per process; later calls return the same instance.</summary>
    public static Pkcs11InteropAdapter Load(string path)
    {
        lock (Loaded)
        {
            if (Loaded.TryGetValue(path, out var existing))
            {
                return existing;
            }

            MapLibdl();
            Pkcs11Library lib;
            try
            {
                lib = new Pkcs11Library(path);
            }
            catch (UnmanagedException e)
            {
                throw new DllNotFoundException($"cannot load '{path}': {e.Message}", e);
            }

            // Without CKF_OS_LOCKING_OK SoftHSM turns its own locking off and crashes under two threads.
            var args = new CK_C_INITIALIZE_ARGS { Flags = CK.CKF_OS_LOCKING_OK };
            var rv = (ulong)lib.C_Initialize(args);
            if (rv != CK.CKR_CRYPTOKI_ALREADY_INITIALIZED)
            {
                Check(rv, "C_Initialize");
            }

            var adapter = new Pkcs11InteropAdapter(lib, path);
            Loaded[path] = adapter;
            return adapter;
        }
    }

    public ulong[] GetSlotList(bool tokenPresent)
    {
        ulong count = 0;
        Check(_lib.C_GetSlotList(tokenPresent, null, ref count), "C_GetSlotList");
        var slots = new ulong[count];
        Check(_lib.C_GetSlotList(tokenPresent, slots, ref count), "C_GetSlotList");
        return slots.AsSpan(0, (int)count).ToArray();
    }

    public TokenInfo GetTokenInfo(ulong slotId)
    {
        var info = default(CK_TOKEN_INFO);
        Check(_lib.C_GetTokenInfo(slotId, ref info), "C_GetTokenInfo");
        return new TokenInfo(Padded(info.Label), Padded(info.ManufacturerId), Padded(info.Model), Padded(info.SerialNumber), info.Flags);
    }

    public ulong OpenSession(ulong slotId)
    {
        ulong session = 0;
        Check(_lib.C_OpenSession(slotId, CK.CKF_SERIAL_SESSION | CK.CKF_RW_SESSION, IntPtr.Zero, IntPtr.Zero, ref session), "C_OpenSession");
        return session;
    }

    public void CloseSession(ulong session) => Check(_lib.C_CloseSession(session), "C_CloseSession");

    public SessionInfo GetSessionInfo(ulong session)
    {
        var info = default(CK_SESSION_INFO);
        Check(_lib.C_GetSessionInfo(session, ref info), "C_GetSessionInfo");
        return new SessionInfo(info.SlotId, info.State, info.Flags, info.DeviceError);
    }

    public void Login(ulong session, byte[] pin) =>
        Check(_lib.C_Login(session, CKU.CKU_USER, pin, (ulong)pin.Length), "C_Login");

    public ulong[] FindObjects(ulong session, ReadOnlySpan<Attr> template, int maxCount)
    {
        using (var t = new NativeTemplate(template))
        {
            Check(_lib.C_FindObjectsInit(session, t.Attributes, t.Count), "C_FindObjectsInit");
        }

        // Always end the search, or the session refuses the next one with CKR_OPERATION_ACTIVE. If C_FindObjects
        // failed, its error is the one reported: a failing C_FindObjectsFinal must not replace it.
        var found = new ulong[maxCount];
        ulong count = 0;
        var rv = (ulong)_lib.C_FindObjects(session, found, (ulong)maxCount, ref count);
        var finalRv = (ulong)_lib.C_FindObjectsFinal(session);
        Check(rv, "C_FindObjects");
        Check(finalRv, "C_FindObjectsFinal");
        return found.AsSpan(0, (int)count).ToArray();
    }

    public byte[] GetAttributeValue(ulong session, ulong handle, ulong type)
    {
        CK_ATTRIBUTE[] attr = [new CK_ATTRIBUTE { type = type, value = IntPtr.Zero, valueLen = 0 }];
        Check(_lib.C_GetAttributeValue(session, handle, attr, 1), "C_GetAttributeValue");
        if (attr[0].valueLen == UnavailableInformation)
        {
            throw new Pkcs11Exception("C_GetAttributeValue", CK.CKR_ATTRIBUTE_TYPE_INVALID);
        }

        var value = new byte[attr[0].valueLen];
        fixed (byte* p = value)
        {
            attr[0].value = (IntPtr)p;
            Check(_lib.C_GetAttributeValue(session, handle, attr, 1), "C_GetAttributeValue");
        }

        return value.Length == (int)attr[0].valueLen ? value : value[..(int)attr[0].valueLen];
    }

    public ulong GenerateKey(ulong session, in Mechanism mechanism, ReadOnlySpan<Attr> template)
    {
        using var m = new NativeMechanism(mechanism);
        using var t = new NativeTemplate(template);
        ulong key = 0;
        var ck = m.Value;
        Check(_lib.C_GenerateKey(session, ref ck, t.Attributes, t.Count, ref key), "C_GenerateKey");
        return key;
    }

    public (ulong PublicKey, ulong PrivateKey) GenerateKeyPair(
        ulong session, in Mechanism mechanism, ReadOnlySpan<Attr> publicTemplate, ReadOnlySpan<Attr> privateTemplate)
    {
        using var m = new NativeMechanism(mechanism);
        using var pub = new NativeTemplate(publicTemplate);
        using var priv = new NativeTemplate(privateTemplate);
        ulong publicKey = 0, privateKey = 0;
        var ck = m.Value;
        Check(
            _lib.C_GenerateKeyPair(session, ref ck, pub.Attributes, pub.Count, priv.Attributes, priv.Count, ref publicKey, ref privateKey),
            "C_GenerateKeyPair");
        return (publicKey, privateKey);
    }

    public ulong DeriveKey(ulong session, in Mechanism mechanism, ulong baseKey, ReadOnlySpan<Attr> template)
    {
        using var m = new NativeMechanism(mechanism);
        using var t = new NativeTemplate(template);
        ulong key = 0;
        var ck = m.Value;
        Check(_lib.C_DeriveKey(session, ref ck, baseKey, t.Attributes, t.Count, ref key), "C_DeriveKey");
        return key;
    }

    public byte[] WrapKey(ulong session, in Mechanism mechanism, ulong wrappingKey, ulong key)
    {
        using var m = new NativeMechanism(mechanism);
        var ck = m.Value;
        ulong length = 0;
        Check(_lib.C_WrapKey(session, ref ck, wrappingKey, key, null, ref length), "C_WrapKey");
        var wrapped = new byte[length];
        Check(_lib.C_WrapKey(session, ref ck, wrappingKey, key, wrapped, ref length), "C_WrapKey");
        return wrapped.AsSpan(0, (int)length).ToArray();
    }

    public ulong UnwrapKey(ulong session, in Mechanism mechanism, ulong unwrappingKey, byte[] wrapped, ReadOnlySpan<Attr> template)
    {
        using var m = new NativeMechanism(mechanism);
        using var t = new NativeTemplate(template);
        ulong key = 0;
        var ck = m.Value;
        Check(
            _lib.C_UnwrapKey(session, ref ck, unwrappingKey, wrapped, (ulong)wrapped.Length, t.Attributes, t.Count, ref key),
            "C_UnwrapKey");
        return key;
    }

    public void SignInit(ulong session, in Mechanism mechanism, ulong key)
    {
        using var m = new NativeMechanism(mechanism);
        var ck = m.Value;
        Check(_lib.C_SignInit(session, ref ck, key), "C_SignInit");
    }

    public int Sign(ulong session, byte[] data, byte[] signature)
    {
        var length = (ulong)signature.Length;
        Check(_lib.C_Sign(session, data, (ulong)data.Length, signature, ref length), "C_Sign");
        return (int)length;
    }

    public void EncryptInit(ulong session, in Mechanism mechanism, ulong key)
    {
        using var m = new NativeMechanism(mechanism);
        var ck = m.Value;
        Check(_lib.C_EncryptInit(session, ref ck, key), "C_EncryptInit");
    }

    public void DecryptInit(ulong session, in Mechanism mechanism, ulong key)
    {
        using var m = new NativeMechanism(mechanism);
        var ck = m.Value;
        Check(_lib.C_DecryptInit(session, ref ck, key), "C_DecryptInit");
    }

    public void DestroyObject(ulong session, ulong handle) => Check(_lib.C_DestroyObject(session, handle), "C_DestroyObject");

    private static void Check(CKR rv, string function) => Check((ulong)rv, function);

    private static void Check(ulong rv, string function)
    {
        if (rv != CK.CKR_OK)
        {
            throw new Pkcs11Exception(function, rv);
        }
    }

    private static string Padded(byte[] text) => Encoding.UTF8.GetString(text).TrimEnd(' ', '\0');

    /// <summary>
    /// Pkcs11Interop P/Invokes dlopen from "libdl"; Debian 12 ships only libdl.so.2. Mapped once, before the first
    /// load, on the package's assembly only (the maintainer's advice, upstream issue #239).
    /// </summary>
    private static void MapLibdl()
    {
        if (s_resolverSet)
        {
            return;
        }

        NativeLibrary.SetDllImportResolver(typeof(Pkcs11Library).Assembly, static (name, assembly, searchPath) =>
            name == "libdl" && NativeLibrary.TryLoad("libdl.so.2", assembly, searchPath, out var handle) ? handle : IntPtr.Zero);
        s_resolverSet = true;
    }

    /// <summary>A CK_ATTRIBUTE array whose values sit in one native block, freed after the call.</summary>
    private readonly struct NativeTemplate : IDisposable
    {
        private readonly byte* _block;

        public NativeTemplate(ReadOnlySpan<Attr> template)
        {
            var size = 0;
            foreach (var a in template)
            {
                size += a.Value.Length;
            }

            _block = (byte*)NativeMemory.Alloc((nuint)Math.Max(size, 1));
            Attributes = new CK_ATTRIBUTE[template.Length];
            var values = _block;
            for (var i = 0; i < template.Length; i++)
            {
                var value = template[i].Value;
                value.CopyTo(new Span<byte>(values, value.Length));
                Attributes[i] = new CK_ATTRIBUTE { type = template[i].Type, value = (IntPtr)values, valueLen = (ulong)value.Length };
                values += value.Length;
            }
        }

        public CK_ATTRIBUTE[] Attributes { get; }

        public ulong Count => (ulong)Attributes.Length;

        public void Dispose() => NativeMemory.Free(_block);
    }

    /// <summary>
    /// A CK_MECHANISM whose parameter block is native memory of ours: for derivation a CK_KEY_DERIVATION_STRING_DATA
    /// {pData, ulLen} (16 bytes) followed by the data it points to, otherwise the parameter bytes as given.
    /// </summary>
    private readonly struct NativeMechanism : IDisposable
    {
        private readonly byte* _block;
        private readonly nuint _size;

        public NativeMechanism(in Mechanism mechanism)
        {
            var parameter = mechanism.Parameter ?? [];
            var header = mechanism.ParameterIsDerivationString ? 16 : 0;
            _size = (nuint)(header + parameter.Length);
            _block = _size == 0 ? null : (byte*)NativeMemory.AllocZeroed(_size);
            var data = _block + header;
            parameter.CopyTo(new Span<byte>(data, parameter.Length));
            if (mechanism.ParameterIsDerivationString)
            {
                *(byte**)_block = data;
                *(ulong*)(_block + 8) = (ulong)parameter.Length;
            }

            Value = new CK_MECHANISM
            {
                Mechanism = mechanism.Type,
                Parameter = (IntPtr)_block,
                ParameterLen = (ulong)(mechanism.ParameterIsDerivationString ? header : parameter.Length),
            };
        }

        public CK_MECHANISM Value { get; }

        /// <summary>
        /// Clears the block before freeing it: a derivation parameter is SHA-256(salt ‖ PIN), which must not stay
        /// behind in freed native memory after the managed copy has been zeroed.
        /// </summary>
        public void Dispose()
        {
            if (_block is not null)
            {
                NativeMemory.Clear(_block, _size);
                NativeMemory.Free(_block);
            }
        }
    }
}
