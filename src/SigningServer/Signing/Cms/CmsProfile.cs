namespace DTrust.SigningServer.Signing;

/// <summary>Which baseline the signed attributes follow.</summary>
public enum CmsProfile
{
    /// <summary>CAdES baseline (ETSI EN 319 122-1): signing-time is included.</summary>
    Cades,

    /// <summary>
    /// PAdES baseline (ETSI EN 319 142-1 §5.3): the CMS inside a PDF must not carry signing-time; the time is the
    /// PDF signature dictionary's /M entry (or a time-stamp).
    /// </summary>
    Pades,
}
