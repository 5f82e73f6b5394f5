namespace DTrust.Cms;

/// <summary>
/// Which signed attributes a signature carries, beside message-digest and signing-certificate-v2 (always there).
/// The baselines differ only in this data: CAdES claims a signing-time, PAdES must not (ETSI EN 319 142-1 §5.3: the
/// PDF's /M holds the claim), and a time-stamp token signs a TSTInfo, not data.
/// </summary>
public sealed record CmsAttributeProfile(string Name, string ContentType, bool SigningTime)
{
    /// <summary>CAdES baseline (ETSI EN 319 122-1): content-type id-data, signing-time.</summary>
    public static CmsAttributeProfile Cades { get; } = new("CAdES", CmsOids.Data, SigningTime: true);

    /// <summary>PAdES baseline: as CAdES without signing-time.</summary>
    public static CmsAttributeProfile Pades { get; } = new("PAdES", CmsOids.Data, SigningTime: false);

    /// <summary>RFC 3161 §2.4.2: the TSTInfo is the encapsulated content; no signing-time (genTime is the time).</summary>
    public static CmsAttributeProfile TimeStampToken { get; } = new("TimeStampToken", CmsOids.TstInfo, SigningTime: false);
}
