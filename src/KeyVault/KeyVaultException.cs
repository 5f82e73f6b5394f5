namespace DTrust.KeyVault;

/// <summary>What went wrong, in terms a caller can act on.</summary>
public enum KeyVaultErrorKind
{
    Unspecified = 0,

    /// <summary>Options or token set-up are wrong (unknown token, two domains on one token, token PIN refused).</summary>
    Configuration,

    /// <summary>The credential PIN does not open the wrapped key.</summary>
    WrongPin,

    /// <summary>The stored blob does not match its integrity digest: damaged in storage, not a PIN problem.</summary>
    CorruptKeyBlob,

    /// <summary>The wrapped key belongs to another key domain.</summary>
    WrongDomain,

    /// <summary>Bad arguments: digest length, scheme not fitting the key, empty PIN.</summary>
    InvalidInput,

    /// <summary>A token object (master key, CA or TSA key) is missing.</summary>
    KeyNotFound,

    /// <summary>The token or a session is gone; retrying later may work.</summary>
    HsmUnavailable,

    /// <summary>The HSM refused an operation for another reason.</summary>
    HsmError,
}

/// <summary>The one exception type the vault throws. Messages never contain a PIN.</summary>
public sealed class KeyVaultException : Exception
{
    public KeyVaultException()
    {
    }

    public KeyVaultException(string message)
        : base(message)
    {
    }

    public KeyVaultException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public KeyVaultException(KeyVaultErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
    }

    public KeyVaultErrorKind Kind { get; }

    /// <summary>True when the same call may succeed later (the token or a session was unavailable).</summary>
    public bool IsTransient => Kind == KeyVaultErrorKind.HsmUnavailable;
}
