namespace DTrust.Tsa.Internal;

/// <summary>Object identifiers only the TSA uses, named as in their RFCs (the CMS ones are in <see cref="DTrust.Cms.CmsOids"/>).</summary>
internal static class Oids
{
    public const string Sha1 = "1.3.14.3.2.26";

    /// <summary>id-pe-qcStatements (RFC 3739).</summary>
    public const string QcStatements = "1.3.6.1.5.5.7.1.3";

    /// <summary>esi4-qtstStatement-1 (ETSI EN 319 422): the token is a qualified electronic time stamp.</summary>
    public const string QtstStatement1 = "0.4.0.19422.1.1";

    /// <summary>id-kp-timeStamping (RFC 5280).</summary>
    public const string TimeStampingEku = "1.3.6.1.5.5.7.3.8";
}
