
namespace DTrust.Pki;

/// <summary>Object identifiers of the certificate profiles: ours under the development arc, the rest from ETSI and IETF.</summary>
public static class PkiOids
{
    /// <summary>
    /// Default arc of our certificate policies, under the development arc (the TSA's policies are arc .1,
    /// certificate policies arc .2). A production QTSP configures its own (<see cref="PkiOptions.PolicyArc"/>).
    /// </summary>
    public const string PolicyArc = DevelopmentArc + ".2";

    /// <summary>RFC 5612's enterprise number for documentation, the same arc the TSA's default policy uses.</summary>
    public const string DevelopmentArc = "1.3.6.1.4.1.32473";

    public const string SimplePolicy = PolicyArc + ".1";
    public const string AdvancedPolicy = PolicyArc + ".2";
    public const string QualifiedPolicy = PolicyArc + ".3";
    public const string QualifiedSealPolicy = PolicyArc + ".4";
    public const string AdvancedSealPolicy = PolicyArc + ".5";

    /// <summary>ETSI EN 319 411-2 QCP-n-qscd: qualified certificate of a natural person, key in a QSCD.</summary>
    public const string QcpNQscd = "0.4.0.194112.1.2";

    /// <summary>ETSI EN 319 411-2 QCP-l-qscd: qualified certificate of a legal person (a seal), key in a QSCD.</summary>
    public const string QcpLQscd = "0.4.0.194112.1.3";

    /// <summary>ETSI EN 319 411-2 QCP-l: qualified certificate of a legal person, key not necessarily in a QSCD.</summary>
    public const string QcpL = "0.4.0.194112.1.1";

    /// <summary>RFC 3739 id-pe-qcStatements.</summary>
    public const string QcStatements = "1.3.6.1.5.5.7.1.3";

    /// <summary>ETSI EN 319 412-5 statements.</summary>
    public const string QcCompliance = "0.4.0.1862.1.1";
    public const string QcSscd = "0.4.0.1862.1.4";
    public const string QcType = "0.4.0.1862.1.6";
    public const string QcTypeEsign = "0.4.0.1862.1.6.1";
    public const string QcTypeEseal = "0.4.0.1862.1.6.2";

    /// <summary>RFC 3739 id-qcs-pkixQCSyntax-v2, whose SemanticsInformation says how the subject's identifiers read.</summary>
    public const string QcSyntaxV2 = "1.3.6.1.5.5.7.11.2";

    /// <summary>EN 319 412-1 id-etsi-qcs-semanticsId-Legal: organizationIdentifier in the form of §5.1.4.</summary>
    public const string SemanticsIdLegal = "0.4.0.194121.1.2";

    public const string CertificatePolicies = "2.5.29.32";
    public const string OcspSigning = "1.3.6.1.5.5.7.3.9";

    /// <summary>RFC 6960 §4.2.2.2.1 id-pkix-ocsp-nocheck: clients need not check the responder's own status.</summary>
    public const string OcspNoCheck = "1.3.6.1.5.5.7.48.1.5";

    public const string GivenName = "2.5.4.42";
    public const string Surname = "2.5.4.4";
    public const string Title = "2.5.4.12";
    public const string SerialNumber = "2.5.4.5";

    /// <summary>X.520 organizationIdentifier, with EN 319 412-1 §5.1.4 semantics (e.g. NTRDE-HRB12345, LEIXG-…).</summary>
    public const string OrganizationIdentifier = "2.5.4.97";

    /// <summary>
    /// Our policy OID of a level under <paramref name="arc"/> (.1 simple, .2 advanced, .3 qualified, .4 qualified
    /// seal, .5 advanced seal).
    /// </summary>
    public static string Policy(CredentialLevel level, string arc = PolicyArc) => level switch
    {
        CredentialLevel.Simple => arc + ".1",
        CredentialLevel.Advanced => arc + ".2",
        CredentialLevel.Qualified => arc + ".3",
        CredentialLevel.QualifiedSeal => arc + ".4",
        CredentialLevel.AdvancedSeal => arc + ".5",
        _ => throw new ArgumentOutOfRangeException(nameof(level)),
    };

    /// <summary>
    /// Refuses (at start-up) an arc that is not a dotted OID or has a component of 2^63 or more: every certificate
    /// would carry it, and parsers that keep components in 64 bits refuse the whole policies extension.
    /// </summary>
    public static void RequireShortArc(string arc, string setting)
    {
        var parts = arc.Split('.');
        var valid = parts.Length >= 2 && parts[0] is "0" or "1" or "2"
            && parts.All(p => p.Length > 0 && p.All(char.IsAsciiDigit) && long.TryParse(p, out _));
        if (!valid)
        {
            throw new InvalidOperationException(
                $"{setting} '{arc}' must be a dotted OID whose components are each below 2^63 (a UUID arc 2.25.<128 bits> is refused by common parsers)");
        }
    }
}
