namespace DTrust.Tsa.Internal;

/// <summary>Object identifiers the TSA reads or writes, named as in their RFCs.</summary>
internal static class Oids
{
    public const string Sha1 = "1.3.14.3.2.26";
    public const string Sha256 = "2.16.840.1.101.3.4.2.1";
    public const string Sha384 = "2.16.840.1.101.3.4.2.2";
    public const string Sha512 = "2.16.840.1.101.3.4.2.3";

    /// <summary>id-signedData (RFC 5652 §5.1).</summary>
    public const string SignedData = "1.2.840.113549.1.7.2";

    /// <summary>id-contentType and id-messageDigest signed attributes (RFC 5652 §11).</summary>
    public const string ContentType = "1.2.840.113549.1.9.3";
    public const string MessageDigest = "1.2.840.113549.1.9.4";

    /// <summary>id-ct-TSTInfo (RFC 3161 §2.4.2).</summary>
    public const string TstInfo = "1.2.840.113549.1.9.16.1.4";

    /// <summary>id-aa-signingCertificateV2 (RFC 5035).</summary>
    public const string SigningCertificateV2 = "1.2.840.113549.1.9.16.2.47";

    /// <summary>id-pe-qcStatements (RFC 3739).</summary>
    public const string QcStatements = "1.3.6.1.5.5.7.1.3";

    /// <summary>esi4-qtstStatement-1 (ETSI EN 319 422): the token is a qualified electronic time stamp.</summary>
    public const string QtstStatement1 = "0.4.0.19422.1.1";

    /// <summary>id-kp-timeStamping (RFC 5280).</summary>
    public const string TimeStampingEku = "1.3.6.1.5.5.7.3.8";
}
