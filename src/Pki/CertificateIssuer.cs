using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DTrust.KeyVault;
using DTrust.Pki.Internal;

namespace DTrust.Pki;

/// <summary>Who a certificate names. Organisation and function appear only when the holder acts for one.</summary>
public sealed record CertificateHolder
{
    public required string GivenName { get; init; }

    public required string Surname { get; init; }

    /// <summary>ISO 3166-1 alpha-2.</summary>
    public required string Country { get; init; }

    public string? Organisation { get; init; }

    /// <summary>The holder's function in the organisation, written as title (2.5.4.12).</summary>
    public string? Function { get; init; }

    /// <summary>
    /// A unique identifier for the serialNumber attribute (2.5.4.5), e.g. EN 319 412-1 "PNODE-…"; optional, it
    /// tells two holders of the same name apart.
    /// </summary>
    public string? UniqueId { get; init; }
}

/// <summary>
/// The organisation a seal certificate names (EN 319 412-3 §4.2.1: countryName, organizationName,
/// organizationIdentifier and commonName).
/// </summary>
public sealed record SealSubject
{
    /// <summary>The organisation's full registered name (organizationName and commonName).</summary>
    public required string Name { get; init; }

    /// <summary>ISO 3166-1 alpha-2 of the registration.</summary>
    public required string Country { get; init; }

    /// <summary>EN 319 412-1 §5.1.4 semantics identifier, e.g. NTRDE-HRB12345, VATDE-123456789, LEIXG-….</summary>
    public required string OrganizationIdentifier { get; init; }
}

/// <summary>
/// Issues end-entity certificates for credential keys (the key itself never reaches this class: only its
/// SubjectPublicKeyInfo). The level's issuing CA signs in the level's token.
/// </summary>
public sealed class CertificateIssuer(IssuingCas cas, PkiOptions options, TimeProvider time, ILogger<CertificateIssuer> log)
{
    /// <summary>EN 319 411-2 leaves it to the QTSP; 5 years keeps qualified keys within their algorithm horizon.</summary>
    public static readonly TimeSpan QualifiedValidity = TimeSpan.FromDays(5 * 365 + 1);

    public static readonly TimeSpan AdvancedValidity = TimeSpan.FromDays(10 * 365 + 2);

    /// <summary>Simple: 3 years, so holder data of the lowest level is re-confirmed at least that often.</summary>
    public static readonly TimeSpan SimpleValidity = TimeSpan.FromDays(3 * 365 + 1);

    /// <summary>
    /// Issues the level's certificate for <paramref name="subjectPublicKeyInfo"/> (DER), whose key type must be
    /// <paramref name="algorithm"/>. The serial is random; the caller stores it as <see cref="X509Certificate2.SerialNumber"/>.
    /// Synchronous HSM work (one signature), so the task completes at once.
    /// </summary>
    public Task<X509Certificate2> IssueAsync(
        CredentialLevel level, CertificateHolder holder, ReadOnlyMemory<byte> subjectPublicKeyInfo, KeyAlgorithm algorithm, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (level.IsSeal())
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "a seal certificate names an organisation, not a person");
        }

        ValidateHolder(holder);
        return Task.FromResult(Issue(level, SubjectName(holder), subjectPublicKeyInfo, algorithm));
    }

    /// <summary>As <see cref="IssueAsync"/> for a seal level: the subject is the organisation, the profile the seal's.</summary>
    public Task<X509Certificate2> IssueSealAsync(
        CredentialLevel level, SealSubject subject, ReadOnlyMemory<byte> subjectPublicKeyInfo, KeyAlgorithm algorithm, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (!level.IsSeal())
        {
            throw new DTrustException(ErrorKind.InvalidArgument, $"{level} is not a seal level");
        }

        ValidateSubject(subject);
        return Task.FromResult(Issue(level, SubjectName(subject), subjectPublicKeyInfo, algorithm));
    }

    private X509Certificate2 Issue(CredentialLevel level, X500DistinguishedName subject, ReadOnlyMemory<byte> subjectPublicKeyInfo, KeyAlgorithm algorithm)
    {
        var publicKey = ParsePublicKey(subjectPublicKeyInfo.Span, algorithm);
        var ca = cas[level];

        var request = new CertificateRequest(subject, publicKey, CaSigning.Hash(ca.Key.Algorithm));
        var extensions = request.CertificateExtensions;
        extensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
        extensions.Add(new X509KeyUsageExtension(KeyUsage(level), critical: true));
        extensions.Add(QcPolicy(level) is { } qcp
            ? Profiles.CertificatePolicies(qcp, PkiOids.Policy(level, options.PolicyArc))
            : Profiles.CertificatePolicies(PkiOids.Policy(level, options.PolicyArc)));
        if (level == CredentialLevel.Qualified)
        {
            extensions.Add(Profiles.QcStatementsEsign());
        }
        else if (level.IsSeal())
        {
            extensions.Add(Profiles.QcStatementsEseal(qscd: level == CredentialLevel.QualifiedSeal));
        }

        extensions.Add(new X509SubjectKeyIdentifierExtension(publicKey, false));
        extensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca.Certificate, true, false));
        extensions.Add(CertificateRevocationListBuilder.BuildCrlDistributionPointExtension([CrlUrl(options, level)]));
        extensions.Add(new X509AuthorityInformationAccessExtension([OcspUrl(options)], [CaIssuersUrl(options, level)]));

        // Whole seconds: the DER UTCTime/GeneralizedTime has none, and a notBefore in the future would be rejected.
        var now = DateTimeOffset.FromUnixTimeSeconds(time.GetUtcNow().ToUnixTimeSeconds());
        var caEnd = new DateTimeOffset(ca.Certificate.NotAfter.ToUniversalTime());
        var notAfter = now + Validity(level);
        if (notAfter > caEnd)
        {
            notAfter = caEnd;
        }

        if (notAfter <= now)
        {
            throw new DTrustException(ErrorKind.FailedPrecondition, $"the {PkiLevels.Name(level)} CA certificate has expired");
        }

        using var caAlg = ca.Key.CreateAlgorithm();
        var certificate = request.Create(ca.Certificate.SubjectName, CaSigning.Generator(caAlg), now, notAfter, CaSigning.RandomSerial());
        PkiLog.CertificateIssued(log, level, certificate.SerialNumber, notAfter);
        return certificate;
    }

    /// <summary>
    /// The EN 319 411-2 policy a level's certificates assert beside ours: QCP-n-qscd for qualified signatures,
    /// QCP-l-qscd for qualified seals, QCP-l for advanced seals (a qualified certificate, the key not claimed to be
    /// in a QSCD); none for simple and advanced signatures.
    /// </summary>
    private static string? QcPolicy(CredentialLevel level) => level switch
    {
        CredentialLevel.Qualified => PkiOids.QcpNQscd,
        CredentialLevel.QualifiedSeal => PkiOids.QcpLQscd,
        CredentialLevel.AdvancedSeal => PkiOids.QcpL,
        _ => null,
    };

    public static TimeSpan Validity(CredentialLevel level) => level switch
    {
        CredentialLevel.Qualified or CredentialLevel.QualifiedSeal => QualifiedValidity,
        CredentialLevel.Advanced or CredentialLevel.AdvancedSeal => AdvancedValidity,
        _ => SimpleValidity,
    };

    internal static string CrlUrl(PkiOptions options, CredentialLevel level) => $"{Base(options)}/crl/{PkiLevels.Name(level)}.crl";

    internal static string OcspUrl(PkiOptions options) => $"{Base(options)}/ocsp";

    internal static string CaIssuersUrl(PkiOptions options, CredentialLevel level) => $"{Base(options)}/pki/ca-{PkiLevels.Name(level)}.cer";

    private static string Base(PkiOptions options) => options.PublicBaseUrl.TrimEnd('/');

    /// <summary>
    /// EN 319 412-2 §4.3.2 (and EN 319 412-3 for seals): a signature or seal certificate asserts non-repudiation
    /// (contentCommitment). Qualified ones assert it alone, so the key cannot be presented for authentication or key
    /// agreement; an advanced seal adds digitalSignature, as an advanced signature does.
    /// </summary>
    private static X509KeyUsageFlags KeyUsage(CredentialLevel level) => level switch
    {
        CredentialLevel.Qualified or CredentialLevel.QualifiedSeal => X509KeyUsageFlags.NonRepudiation,
        CredentialLevel.Advanced or CredentialLevel.AdvancedSeal => X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.NonRepudiation,
        _ => X509KeyUsageFlags.DigitalSignature,
    };

    /// <summary>
    /// EN 319 412-2 §4.2.4: the natural person's name as givenName and surname, plus a CN to display. The builder
    /// takes attributes in display order (most specific first) and encodes them reversed, so the DER sequence
    /// runs C, O, title, SN, GN, serialNumber, CN.
    /// </summary>
    private static X500DistinguishedName SubjectName(CertificateHolder holder)
    {
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName($"{holder.GivenName} {holder.Surname}");
        if (!string.IsNullOrWhiteSpace(holder.UniqueId))
        {
            // DirectoryString is the norm, but serialNumber is PrintableString by definition (X.520).
            name.Add(PkiOids.SerialNumber, holder.UniqueId, UniversalTagNumber.PrintableString);
        }

        name.Add(PkiOids.GivenName, holder.GivenName);
        name.Add(PkiOids.Surname, holder.Surname);
        if (!string.IsNullOrWhiteSpace(holder.Function))
        {
            name.Add(PkiOids.Title, holder.Function);
        }

        if (!string.IsNullOrWhiteSpace(holder.Organisation))
        {
            name.AddOrganizationName(holder.Organisation);
        }

        name.AddCountryOrRegion(holder.Country);
        return name.Build();
    }

    /// <summary>
    /// EN 319 412-3: CN and O carry the organisation's name; organizationIdentifier (2.5.4.97) its registration, in
    /// the EN 319 412-1 form; C the country. DER order C, O, organizationIdentifier, CN.
    /// </summary>
    private static X500DistinguishedName SubjectName(SealSubject subject)
    {
        var name = new X500DistinguishedNameBuilder();
        name.AddCommonName(subject.Name);
        name.Add(PkiOids.OrganizationIdentifier, subject.OrganizationIdentifier, UniversalTagNumber.UTF8String);
        name.AddOrganizationName(subject.Name);
        name.AddCountryOrRegion(subject.Country);
        return name.Build();
    }

    private static void ValidateSubject(SealSubject subject)
    {
        if (string.IsNullOrWhiteSpace(subject.Name) || subject.Name.Length > 64)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "the organisation's name is required, at most 64 characters");
        }

        if (subject.Country is not { Length: 2 } c || !char.IsAsciiLetterUpper(c[0]) || !char.IsAsciiLetterUpper(c[1]))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "country must be an ISO 3166-1 alpha-2 code in capitals");
        }

        if (!OrganisationIdentifiers.IsValid(subject.OrganizationIdentifier))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, OrganisationIdentifiers.Rule);
        }
    }

    private static void ValidateHolder(CertificateHolder holder)
    {
        if (string.IsNullOrWhiteSpace(holder.GivenName) || string.IsNullOrWhiteSpace(holder.Surname))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "given name and surname are required");
        }

        if (holder.Country is not { Length: 2 } c || !char.IsAsciiLetterUpper(c[0]) || !char.IsAsciiLetterUpper(c[1]))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "country must be an ISO 3166-1 alpha-2 code in capitals");
        }

        // ub-name (X.520): 64 characters each, and the CN joins both names.
        if (holder.GivenName.Length + holder.Surname.Length + 1 > 64
            || (holder.Organisation?.Length ?? 0) > 64 || (holder.Function?.Length ?? 0) > 64 || (holder.UniqueId?.Length ?? 0) > 64)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "a name attribute is longer than 64 characters");
        }

        if (holder.UniqueId is { } id && !id.All(IsPrintable))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "the unique id must use PrintableString characters");
        }
    }

    private static bool IsPrintable(char c) => char.IsAsciiLetterOrDigit(c) || " '()+,-./:=?".Contains(c, StringComparison.Ordinal);

    /// <summary>The key must be the one the vault made for the credential's algorithm; anything else is refused.</summary>
    private static PublicKey ParsePublicKey(ReadOnlySpan<byte> spki, KeyAlgorithm algorithm)
    {
        PublicKey key;
        try
        {
            key = PublicKey.CreateFromSubjectPublicKeyInfo(spki, out var read);
            if (read != spki.Length)
            {
                throw new CryptographicException("trailing data after the SubjectPublicKeyInfo");
            }
        }
        catch (CryptographicException e)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "malformed SubjectPublicKeyInfo", e);
        }

        var size = algorithm switch
        {
            KeyAlgorithm.EcP256 => 256,
            KeyAlgorithm.EcP384 => 384,
            KeyAlgorithm.Rsa2048 => 2048,
            KeyAlgorithm.Rsa3072 => 3072,
            KeyAlgorithm.Rsa4096 => 4096,
            _ => 0,
        };
        using AsymmetricAlgorithm? parsed = CaSigning.IsEc(algorithm) ? key.GetECDsaPublicKey() : key.GetRSAPublicKey();
        if (parsed is null || parsed.KeySize != size)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, $"the public key is not a {algorithm} key");
        }

        return key;
    }
}
