using System.Runtime.InteropServices;
using DTrust.KeyVault.Interop;

namespace DTrust.Benchmarks.Vault;

/// <summary>
/// Bare PKCS#11 calls through the module's CK_FUNCTION_LIST, for the baselines only: the vault goes through
/// Pkcs11Interop, and the raw figures must not, so that the library's own cost shows in the ratios. Just the calls
/// the baselines make (linux-x64 layouts: CK_ULONG and pointers 8 bytes). The module is initialised by the vault
/// first; CKR_CRYPTOKI_ALREADY_INITIALIZED is expected here, and nothing is ever finalised.
/// </summary>
internal sealed unsafe class RawPkcs11
{
    // Indices into CK_FUNCTION_LIST after its CK_VERSION (PKCS#11 v2.40 order).
    private const int FnInitialize = 0;
    private const int FnOpenSession = 12;
    private const int FnCloseSession = 13;
    private const int FnDestroyObject = 22;
    private const int FnSignInit = 42;
    private const int FnSign = 43;
    private const int FnWrapKey = 60;
    private const int FnUnwrapKey = 61;
    private const int FnDeriveKey = 62;

    private readonly nint* _functions;

    private RawPkcs11(nint* functions)
    {
        _functions = functions;
    }

    public static RawPkcs11 Load(string path)
    {
        var module = NativeLibrary.Load(path);
        var getFunctionList = (delegate* unmanaged<nint*, ulong>)NativeLibrary.GetExport(module, "C_GetFunctionList");
        nint list;
        Check(getFunctionList(&list), "C_GetFunctionList");
        var raw = new RawPkcs11((nint*)(list + 8));
        var args = stackalloc ulong[6];
        new Span<ulong>(args, 6).Clear();
        args[4] = CK.CKF_OS_LOCKING_OK;
        var rv = ((delegate* unmanaged<void*, ulong>)raw._functions[FnInitialize])(args);
        if (rv != CK.CKR_CRYPTOKI_ALREADY_INITIALIZED)
        {
            Check(rv, "C_Initialize");
        }

        return raw;
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

    /// <summary>C_SignInit with a mechanism that takes no parameter (CKM_ECDSA, CKM_RSA_PKCS).</summary>
    public void SignInit(ulong session, ulong mechanism, ulong key)
    {
        var m = stackalloc ulong[3] { mechanism, 0, 0 };
        Check(((delegate* unmanaged<ulong, void*, ulong, ulong>)_functions[FnSignInit])(session, m, key), "C_SignInit");
    }

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

    /// <summary>C_DeriveKey with CKM_AES_ECB_ENCRYPT_DATA over <paramref name="data"/>.</summary>
    public ulong DeriveAesEcb(ulong session, ReadOnlySpan<byte> data, ulong baseKey, NativeTemplate template)
    {
        fixed (byte* d = data)
        {
            var parameter = stackalloc ulong[2] { (ulong)d, (ulong)data.Length };
            var m = stackalloc ulong[3] { CK.CKM_AES_ECB_ENCRYPT_DATA, (ulong)parameter, 16 };
            ulong key;
            var fn = (delegate* unmanaged<ulong, void*, ulong, void*, ulong, ulong*, ulong>)_functions[FnDeriveKey];
            Check(fn(session, m, baseKey, template.Pointer, template.Count, &key), "C_DeriveKey");
            return key;
        }
    }

    /// <summary>C_UnwrapKey with CKM_AES_KEY_WRAP_PAD.</summary>
    public ulong UnwrapAesKeyWrapPad(ulong session, ulong unwrappingKey, ReadOnlySpan<byte> wrapped, NativeTemplate template)
    {
        fixed (byte* w = wrapped)
        {
            var m = stackalloc ulong[3] { CK.CKM_AES_KEY_WRAP_PAD, 0, 0 };
            ulong key;
            var fn = (delegate* unmanaged<ulong, void*, ulong, byte*, ulong, void*, ulong, ulong*, ulong>)_functions[FnUnwrapKey];
            Check(fn(session, m, unwrappingKey, w, (ulong)wrapped.Length, template.Pointer, template.Count, &key), "C_UnwrapKey");
            return key;
        }
    }

    /// <summary>C_SignInit + C_Sign into a buffer of the signature's length (no length query).</summary>
    public void SignWith(ulong session, ulong mechanism, ulong key, ReadOnlySpan<byte> input, Span<byte> signature)
    {
        SignInit(session, mechanism, key);
        Sign(session, input, signature);
    }

    /// <summary>
    /// The raw work of one PIN-bound signature, the calls the vault makes: derive the KEK from the master key, unwrap
    /// the credential key, sign once, destroy both session objects.
    /// </summary>
    public void Transaction(
        ulong session, ulong master, ReadOnlySpan<byte> kekMaterial, NativeTemplate kekTemplate, ReadOnlySpan<byte> blob,
        NativeTemplate unwrapTemplate, ulong mechanism, ReadOnlySpan<byte> input, Span<byte> signature)
    {
        var kek = DeriveAesEcb(session, kekMaterial, master, kekTemplate);
        var key = UnwrapAesKeyWrapPad(session, kek, blob, unwrapTemplate);
        SignWith(session, mechanism, key, input, signature);
        DestroyObject(session, key);
        DestroyObject(session, kek);
    }

    /// <summary>
    /// The raw work of a holder's approval, the calls the vault makes: derive the PIN's KEK, unwrap the credential key
    /// (extractable), derive the SAD's KEK, wrap the key under it, destroy the three session objects.
    /// </summary>
    public void Rewrap(
        ulong session, ulong master, ReadOnlySpan<byte> kekMaterial, NativeTemplate kekTemplate, ReadOnlySpan<byte> blob,
        NativeTemplate rewrapTemplate, ReadOnlySpan<byte> sadKekMaterial, Span<byte> wrapped)
    {
        var kek = DeriveAesEcb(session, kekMaterial, master, kekTemplate);
        var key = UnwrapAesKeyWrapPad(session, kek, blob, rewrapTemplate);
        var sadKek = DeriveAesEcb(session, sadKekMaterial, master, kekTemplate);
        var m = stackalloc ulong[3] { CK.CKM_AES_KEY_WRAP_PAD, 0, 0 };
        var length = (ulong)wrapped.Length;
        fixed (byte* w = wrapped)
        {
            var fn = (delegate* unmanaged<ulong, void*, ulong, ulong, byte*, ulong*, ulong>)_functions[FnWrapKey];
            Check(fn(session, m, sadKek, key, w, &length), "C_WrapKey");
        }

        DestroyObject(session, key);
        DestroyObject(session, kek);
        DestroyObject(session, sadKek);
    }

    public void DestroyObject(ulong session, ulong handle) =>
        Check(((delegate* unmanaged<ulong, ulong, ulong>)_functions[FnDestroyObject])(session, handle), "C_DestroyObject");

    private static void Check(ulong rv, string function)
    {
        if (rv != CK.CKR_OK)
        {
            throw new Pkcs11Exception(function, rv);
        }
    }

    /// <summary>A CK_ATTRIBUTE array and its values in one native block, built once in set-up and kept.</summary>
    internal sealed class NativeTemplate
    {
        public NativeTemplate(IReadOnlyList<Attr> template)
        {
            var size = template.Count * 24;
            foreach (var a in template)
            {
                size += a.Value.Length;
            }

            var block = (byte*)NativeMemory.Alloc((nuint)size);
            var values = block + (template.Count * 24);
            for (var i = 0; i < template.Count; i++)
            {
                var value = template[i].Value;
                value.CopyTo(new Span<byte>(values, value.Length));
                var attr = (ulong*)(block + (i * 24));
                attr[0] = template[i].Type;
                attr[1] = (ulong)values;
                attr[2] = (ulong)value.Length;
                values += value.Length;
            }

            Pointer = block;
            Count = (ulong)template.Count;
        }

        public void* Pointer { get; }

        public ulong Count { get; }
    }
}
