namespace DTrust.KeyVault;

/// <summary>Where the PKCS#11 module is and which token each key domain owns.</summary>
public sealed class KeyVaultOptions
{
    public string ModulePath { get; set; } = "/usr/lib/softhsm/libsofthsm2.so";

    public IList<KeyDomainOptions> Domains { get; init; } = [];
}

/// <summary>
/// One key domain bound to one token, found by label (and serial, when several tokens share a label). The user PIN
/// comes from <see cref="Pin"/> or, preferably, from <see cref="PinFile"/>.
/// </summary>
public sealed class KeyDomainOptions
{
    public string Name { get; set; } = "";

    public string TokenLabel { get; set; } = "";

    public string? TokenSerial { get; set; }

    public string? Pin { get; set; }

    public string? PinFile { get; set; }

    /// <summary>Logged-in sessions kept open; one per concurrent operation.</summary>
    public int Sessions { get; set; } = 4;
}
