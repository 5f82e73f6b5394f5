using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Tsa;

/// <summary>How the TSA stamps: policy, accuracy, naming and signature choices.</summary>
public sealed class TsaOptions
{
    /// <summary>
    /// DTrust development arc: private enterprise number 32473, which IANA reserves for documentation and examples
    /// (RFC 5612), so no registered enterprise is impersonated. Short arcs on purpose: a UUID arc (2.25.&lt;128-bit&gt;)
    /// has a component above 64 bits, and common parsers (Debian 12's python3-cryptography 38) refuse the
    /// certificate policies that carry one. Production deployments configure their own arc.
    /// </summary>
    public const string DevelopmentArc = "1.3.6.1.4.1.32473";

    /// <summary>Default TSA policy: DevelopmentArc.1 (TSA policies).1 (development policy, version 1).</summary>
    public const string DefaultPolicyOid = DevelopmentArc + ".1.1";

    /// <summary>Policy written into tokens when the request names none.</summary>
    public string PolicyOid { get; set; } = DefaultPolicyOid;

    /// <summary>
    /// Further policies a request may ask for by reqPolicy (PolicyOid is always accepted). A token issued for such
    /// a request carries the requested policy.
    /// </summary>
    public IList<string> AcceptedPolicies { get; init; } = new List<string>();

    /// <summary>Declared accuracy of genTime; always written, at most one second.</summary>
    public TimeSpan Accuracy { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Qualified mode: adds the qcStatements extension with esi4-qtstStatement-1 (ETSI EN 319 422).</summary>
    public bool Qualified { get; set; }

    /// <summary>Written as the TSTInfo tsa field (a directoryName) when set, usually the TSA certificate subject.</summary>
    public X500DistinguishedName? TsaName { get; set; }

    /// <summary>Digest for the CMS signature and its signed attributes.</summary>
    public HashAlgorithmName SignatureHash { get; set; } = HashAlgorithmName.SHA256;

    /// <summary>For RSA keys: <see cref="RSASignaturePadding.Pss"/> or PKCS#1 v1.5. Null means PSS.</summary>
    public RSASignaturePadding? RsaPadding { get; set; }

    /// <summary>When certReq is true, also include the issuing chain, not only the TSA certificate.</summary>
    public bool IncludeChain { get; set; }

    internal void Validate()
    {
        if (Accuracy <= TimeSpan.Zero || Accuracy > TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(Accuracy), Accuracy, "accuracy must be in (0, 1 s]");
        }

        if (Accuracy.Ticks % TimeSpan.TicksPerMicrosecond != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Accuracy), Accuracy, "accuracy has microsecond granularity");
        }

        foreach (var oid in AcceptedPolicies.Append(PolicyOid))
        {
            if (!Internal.OidSyntax.IsValid(oid))
            {
                throw new ArgumentException($"'{oid}' is not a dotted-decimal object identifier", nameof(PolicyOid));
            }
        }

        if (SignatureHash != HashAlgorithmName.SHA256 && SignatureHash != HashAlgorithmName.SHA384
            && SignatureHash != HashAlgorithmName.SHA512)
        {
            throw new ArgumentException("signature hash must be SHA-256, SHA-384 or SHA-512", nameof(SignatureHash));
        }
    }
}
