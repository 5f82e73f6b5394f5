using System.Runtime.InteropServices;
using System.Text;

namespace DTrust.KeyVault.Interop;

/// <summary>
/// The real binding: loads a PKCS#11 module, takes its CK_FUNCTION_LIST and calls through it with unmanaged function
/// pointers. Layouts are those of linux-x64 (CK_ULONG and pointers 8 bytes, natural alignment).
/// </summary>
/// <remarks>
/// A module is initialised once per process and never finalised: C_Finalize would invalidate the sessions of every
/// other vault in the process, and SoftHSM reads SOFTHSM2_CONF only at C_Initialize anyway.
/// </remarks>
internal sealed unsafe class Pkcs11Library : IPkcs11
{
    // Indices into CK_FUNCTION_LIST after its CK_VERSION (PKCS#11 v2.40 order).
    private const int FnInitialize = 0;
    private const int FnGetSlotList = 4;
    private const int FnGetTokenInfo = 6;
    private const int FnOpenSession = 12;
    private const int FnCloseSession = 13;
    private const int FnGetSessionInfo = 15;
    private const int FnLogin = 18;
    private const int FnDestroyObject = 22;
    private const int FnGetAttributeValue = 24;
    private const int FnFindObjectsInit = 26;
    private const int FnFindObjects = 27;
    private const int FnFindObjectsFinal = 28;
    private const int FnEncryptInit = 29;
    private const int FnDecryptInit = 33;
    private const int FnSignInit = 42;
    private const int FnSign = 43;
    private const int FnGenerateKey = 58;
    private const int FnGenerateKeyPair = 59;
    private const int FnWrapKey = 60;
    private const int FnUnwrapKey = 61;
    private const int FnDeriveKey = 62;

    private const ulong UnavailableInformation = ulong.MaxValue;

    private static readonly Dictionary<string, Pkcs11Library> Loaded = new(StringComparer.Ordinal);

    private readonly nint* _functions;

    private Pkcs11Library(nint* functions, string path)
    {
        _functions = functions;
        ModulePath = path;
    }

    public string ModulePath { get; }

    /// <summary>Loads and initialises a module once per process; later calls return the same instance.</summary>
    public static Pkcs11Library Load(string path)
    {
        lock (Loaded)
        {
            if (Loaded.TryGetValue(path, out var existing))
            {
                return existing;
            }

            var module = NativeLibrary.Load(path);
            var getFunctionList = (delegate* unmanaged<nint*, ulong>)NativeLibrary.GetExport(module, "C_GetFunctionList");
            nint list;
            Check(getFunctionList(&list), "C_GetFunctionList");

            // CK_FUNCTION_LIST starts with a 2-byte CK_VERSION, padded to pointer alignment.
            var library = new Pkcs11Library((nint*)(list + 8), path);

            // Without CKF_OS_LOCKING_OK SoftHSM turns its own locking off and crashes under two threads.
            var args = stackalloc ulong[6];
            new Span<ulong>(args, 6).Clear();
            args[4] = CK.CKF_OS_LOCKING_OK;
            var rv = ((delegate* unmanaged<void*, ulong>)library._functions[FnInitialize])(args);
            if (rv != CK.CKR_CRYPTOKI_ALREADY_INITIALIZED)
            {
                Check(rv, "C_Initialize");
            }

            Loaded[path] = library;
            return library;
        }
    }

    public ulong[] GetSlotList(bool tokenPresent)
    {
        var fn = (delegate* unmanaged<byte, ulong*, ulong*, ulong>)_functions[FnGetSlotList];
        ulong count = 0;
        Check(fn(tokenPresent ? (byte)1 : (byte)0, null, &count), "C_GetSlotList");
        var slots = new ulong[count];
        fixed (ulong* p = slots)
        {
            Check(fn(tokenPresent ? (byte)1 : (byte)0, p, &count), "C_GetSlotList");
        }

        return slots.AsSpan(0, (int)count).ToArray();
    }

    public TokenInfo GetTokenInfo(ulong slotId)
    {
        // CK_TOKEN_INFO is 208 bytes on linux-x64; the buffer is larger to be safe.
        var info = stackalloc byte[256];
        Check(((delegate* unmanaged<ulong, byte*, ulong>)_functions[FnGetTokenInfo])(slotId, info), "C_GetTokenInfo");
        return new TokenInfo(
            Padded(info, 32),
            Padded(info + 32, 32),
            Padded(info + 64, 16),
            Padded(info + 80, 16),
            *(ulong*)(info + 96));
    }

    public ulong OpenSession(ulong slotId)
    {
        ulong session;
        var fn = (delegate* unmanaged<ulong, ulong, void*, void*, ulong*, ulong>)_functions[FnOpenSession];
        Check(fn(slotId, CK.CKF_SERIAL_SESSION | CK.CKF_RW_SESSION, null, null, &session), "C_OpenSession");
        return session;
    }

    public void CloseSession(ulong session) =>
        Check(((delegate* unmanaged<ulong, ulong>)_functions[FnCloseSession])(session), "C_CloseSession");

    public SessionInfo GetSessionInfo(ulong session)
    {
        var info = stackalloc ulong[4];
        Check(((delegate* unmanaged<ulong, ulong*, ulong>)_functions[FnGetSessionInfo])(session, info), "C_GetSessionInfo");
        return new SessionInfo(info[0], info[1], info[2], info[3]);
    }

    public void Login(ulong session, ReadOnlySpan<byte> pin)
    {
        fixed (byte* p = pin)
        {
            var fn = (delegate* unmanaged<ulong, ulong, byte*, ulong, ulong>)_functions[FnLogin];
            Check(fn(session, CK.CKU_USER, p, (ulong)pin.Length), "C_Login");
        }
    }

    public ulong[] FindObjects(ulong session, ReadOnlySpan<Attr> template, int maxCount)
    {
        using (var t = new NativeTemplate(template))
        {
            var init = (delegate* unmanaged<ulong, void*, ulong, ulong>)_functions[FnFindObjectsInit];
            Check(init(session, t.Pointer, t.Count), "C_FindObjectsInit");
        }

        // Always end the search, or the session refuses the next one with CKR_OPERATION_ACTIVE. If C_FindObjects
        // failed, its error is the one reported: a failing C_FindObjectsFinal must not replace it.
        var final = (delegate* unmanaged<ulong, ulong>)_functions[FnFindObjectsFinal];
        var found = new ulong[maxCount];
        ulong count;
        ulong rv;
        fixed (ulong* p = found)
        {
            var find = (delegate* unmanaged<ulong, ulong*, ulong, ulong*, ulong>)_functions[FnFindObjects];
            rv = find(session, p, (ulong)maxCount, &count);
        }

        var finalRv = final(session);
        Check(rv, "C_FindObjects");
        Check(finalRv, "C_FindObjectsFinal");
        return found.AsSpan(0, (int)count).ToArray();
    }

    public byte[] GetAttributeValue(ulong session, ulong handle, ulong type)
    {
        var fn = (delegate* unmanaged<ulong, ulong, NativeAttribute*, ulong, ulong>)_functions[FnGetAttributeValue];
        var attr = new NativeAttribute { Type = type };
        Check(fn(session, handle, &attr, 1), "C_GetAttributeValue");
        if (attr.ValueLength == UnavailableInformation)
        {
            throw new Pkcs11Exception("C_GetAttributeValue", CK.CKR_ATTRIBUTE_TYPE_INVALID);
        }

        var value = new byte[attr.ValueLength];
        fixed (byte* p = value)
        {
            attr.Value = p;
            Check(fn(session, handle, &attr, 1), "C_GetAttributeValue");
        }

        return value;
    }

    public ulong GenerateKey(ulong session, in Mechanism mechanism, ReadOnlySpan<Attr> template)
    {
        using var m = new NativeMechanism(mechanism);
        using var t = new NativeTemplate(template);
        ulong key;
        var fn = (delegate* unmanaged<ulong, void*, void*, ulong, ulong*, ulong>)_functions[FnGenerateKey];
        Check(fn(session, m.Pointer, t.Pointer, t.Count, &key), "C_GenerateKey");
        return key;
    }

    public (ulong PublicKey, ulong PrivateKey) GenerateKeyPair(
        ulong session, in Mechanism mechanism, ReadOnlySpan<Attr> publicTemplate, ReadOnlySpan<Attr> privateTemplate)
    {
        using var m = new NativeMechanism(mechanism);
        using var pub = new NativeTemplate(publicTemplate);
        using var priv = new NativeTemplate(privateTemplate);
        ulong publicKey, privateKey;
        var fn = (delegate* unmanaged<ulong, void*, void*, ulong, void*, ulong, ulong*, ulong*, ulong>)
            _functions[FnGenerateKeyPair];
        Check(
            fn(session, m.Pointer, pub.Pointer, pub.Count, priv.Pointer, priv.Count, &publicKey, &privateKey),
            "C_GenerateKeyPair");
        return (publicKey, privateKey);
    }

    public ulong DeriveKey(ulong session, in Mechanism mechanism, ulong baseKey, ReadOnlySpan<Attr> template)
    {
        using var m = new NativeMechanism(mechanism);
        using var t = new NativeTemplate(template);
        ulong key;
        var fn = (delegate* unmanaged<ulong, void*, ulong, void*, ulong, ulong*, ulong>)_functions[FnDeriveKey];
        Check(fn(session, m.Pointer, baseKey, t.Pointer, t.Count, &key), "C_DeriveKey");
        return key;
    }

    public byte[] WrapKey(ulong session, in Mechanism mechanism, ulong wrappingKey, ulong key)
    {
        using var m = new NativeMechanism(mechanism);
        var fn = (delegate* unmanaged<ulong, void*, ulong, ulong, byte*, ulong*, ulong>)_functions[FnWrapKey];
        ulong length = 0;
        Check(fn(session, m.Pointer, wrappingKey, key, null, &length), "C_WrapKey");
        var wrapped = new byte[length];
        fixed (byte* p = wrapped)
        {
            Check(fn(session, m.Pointer, wrappingKey, key, p, &length), "C_WrapKey");
        }

        return wrapped.AsSpan(0, (int)length).ToArray();
    }

    public ulong UnwrapKey(
        ulong session, in Mechanism mechanism, ulong unwrappingKey, ReadOnlySpan<byte> wrapped, ReadOnlySpan<Attr> template)
    {
        using var m = new NativeMechanism(mechanism);
        using var t = new NativeTemplate(template);
        ulong key;
        fixed (byte* w = wrapped)
        {
            var fn = (delegate* unmanaged<ulong, void*, ulong, byte*, ulong, void*, ulong, ulong*, ulong>)
                _functions[FnUnwrapKey];
            Check(
                fn(session, m.Pointer, unwrappingKey, w, (ulong)wrapped.Length, t.Pointer, t.Count, &key),
                "C_UnwrapKey");
        }

        return key;
    }

    public void SignInit(ulong session, in Mechanism mechanism, ulong key) => KeyOperationInit(FnSignInit, "C_SignInit", session, mechanism, key);

    public int Sign(ulong session, ReadOnlySpan<byte> data, Span<byte> signature)
    {
        fixed (byte* d = data)
        fixed (byte* s = signature)
        {
            var length = (ulong)signature.Length;
            var fn = (delegate* unmanaged<ulong, byte*, ulong, byte*, ulong*, ulong>)_functions[FnSign];
            Check(fn(session, d, (ulong)data.Length, s, &length), "C_Sign");
            return (int)length;
        }
    }

    public void EncryptInit(ulong session, in Mechanism mechanism, ulong key) =>
        KeyOperationInit(FnEncryptInit, "C_EncryptInit", session, mechanism, key);

    public void DecryptInit(ulong session, in Mechanism mechanism, ulong key) =>
        KeyOperationInit(FnDecryptInit, "C_DecryptInit", session, mechanism, key);

    public void DestroyObject(ulong session, ulong handle) =>
        Check(((delegate* unmanaged<ulong, ulong, ulong>)_functions[FnDestroyObject])(session, handle), "C_DestroyObject");

    private static void Check(ulong rv, string function)
    {
        if (rv != CK.CKR_OK)
        {
            throw new Pkcs11Exception(function, rv);
        }
    }

    private static string Padded(byte* text, int length) =>
        Encoding.UTF8.GetString(text, length).TrimEnd(' ', '\0');

    private void KeyOperationInit(int index, string function, ulong session, in Mechanism mechanism, ulong key)
    {
        using var m = new NativeMechanism(mechanism);
        Check(((delegate* unmanaged<ulong, void*, ulong, ulong>)_functions[index])(session, m.Pointer, key), function);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct NativeAttribute
    {
        public ulong Type;
        public byte* Value;
        public ulong ValueLength;
    }

    /// <summary>A CK_ATTRIBUTE array and its values in one native block, freed after the call.</summary>
    private readonly struct NativeTemplate : IDisposable
    {
        public NativeTemplate(ReadOnlySpan<Attr> template)
        {
            var size = template.Length * sizeof(NativeAttribute);
            foreach (var a in template)
            {
                size += a.Value.Length;
            }

            var block = (byte*)NativeMemory.Alloc((nuint)Math.Max(size, 1));
            var attrs = (NativeAttribute*)block;
            var values = block + (template.Length * sizeof(NativeAttribute));
            for (var i = 0; i < template.Length; i++)
            {
                var value = template[i].Value;
                value.CopyTo(new Span<byte>(values, value.Length));
                attrs[i] = new NativeAttribute { Type = template[i].Type, Value = values, ValueLength = (ulong)value.Length };
                values += value.Length;
            }

            Pointer = block;
            Count = (ulong)template.Length;
        }

        public void* Pointer { get; }

        public ulong Count { get; }

        public void Dispose() => NativeMemory.Free(Pointer);
    }

    /// <summary>
    /// A CK_MECHANISM with its parameter block in native memory: {type, pParameter, ulParameterLen}, and for
    /// derivation a CK_KEY_DERIVATION_STRING_DATA {pData, ulLen} (16 bytes) followed by the data.
    /// </summary>
    private readonly struct NativeMechanism : IDisposable
    {
        public NativeMechanism(in Mechanism mechanism)
        {
            var parameter = mechanism.Parameter ?? [];
            var header = mechanism.ParameterIsDerivationString ? 16 : 0;
            var size = (nuint)(24 + header + parameter.Length);
            var block = (byte*)NativeMemory.AllocZeroed(size);
            var param = block + 24;
            var data = param + header;
            parameter.CopyTo(new Span<byte>(data, parameter.Length));
            if (mechanism.ParameterIsDerivationString)
            {
                *(byte**)param = data;
                *(ulong*)(param + 8) = (ulong)parameter.Length;
            }

            *(ulong*)block = mechanism.Type;
            // For derivation the parameter is the 16-byte struct; the data it points to follows it in the block.
            var parameterLength = mechanism.ParameterIsDerivationString ? header : parameter.Length;
            *(byte**)(block + 8) = parameterLength > 0 ? param : null;
            *(ulong*)(block + 16) = (ulong)parameterLength;
            Pointer = block;
            Size = size;
        }

        public void* Pointer { get; }

        private nuint Size { get; }

        /// <summary>
        /// Clears the block before freeing it: a derivation parameter is SHA-256(salt ‖ PIN), which must not stay
        /// behind in freed native memory after the managed copy has been zeroed.
        /// </summary>
        public void Dispose()
        {
            NativeMemory.Clear(Pointer, Size);
            NativeMemory.Free(Pointer);
        }
    }
}
