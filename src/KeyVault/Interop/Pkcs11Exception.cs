namespace DTrust.KeyVault.Interop;

/// <summary>
/// A PKCS#11 function returned something other than CKR_OK. The message names the function and the CKR_ constant,
/// never an argument (so never a PIN).
/// </summary>
public sealed class Pkcs11Exception : Exception
{
    public Pkcs11Exception()
    {
        Function = "";
    }

    public Pkcs11Exception(string message)
        : base(message)
    {
        Function = "";
    }

    public Pkcs11Exception(string message, Exception innerException)
        : base(message, innerException)
    {
        Function = "";
    }

    public Pkcs11Exception(string function, ulong returnValue)
        : base($"{function} failed: {CK.ReturnValueName(returnValue)} (0x{returnValue:X})")
    {
        Function = function;
        ReturnValue = returnValue;
    }

    /// <summary>The PKCS#11 function, e.g. <c>C_UnwrapKey</c>.</summary>
    public string Function { get; }

    /// <summary>The raw CK_RV.</summary>
    public ulong ReturnValue { get; }

    /// <summary>The CKR_ name of <see cref="ReturnValue"/>.</summary>
    public string ReturnValueName => CK.ReturnValueName(ReturnValue);
}
