using System.Text.RegularExpressions;
using DTrust.SigningServer.Errors;
using DTrust.Store;

namespace DTrust.SigningServer.Credentials;

/// <summary>
/// What a holder record must look like. Whether its identification allows enrolling and signing is
/// <see cref="Policy.SigningPolicy.IdentificationProblem"/>.
/// </summary>
public static partial class HolderRules
{
    public static void Validate(UserRecord user)
    {
        RequireText(user.UserId, "user_id", 128);
        RequireText(user.GivenName, "given_name", 64);
        RequireText(user.Surname, "surname", 64);
        if (user.Country is null || !CountryCode().IsMatch(user.Country))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "country must be an ISO 3166-1 alpha-2 code such as DE");
        }

        if (user.Phone is null || !E164().IsMatch(user.Phone))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "phone must be an E.164 number such as +4930123456");
        }
    }

    /// <summary>What an organisation record must look like (the certificate's own checks follow at enrolment).</summary>
    public static void Validate(OrganisationRecord organisation)
    {
        RequireText(organisation.OrganisationId, "organisation_id", 128);
        RequireText(organisation.Name, "name", 64);
        if (organisation.Country is null || !CountryCode().IsMatch(organisation.Country))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "country must be an ISO 3166-1 alpha-2 code such as DE");
        }

        if (!Pki.OrganisationIdentifiers.IsValid(organisation.Identifier))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, Pki.OrganisationIdentifiers.Rule);
        }

        RequireText(organisation.Representative, "representative", 128);
        if (organisation.RepresentativePhone is null || !E164().IsMatch(organisation.RepresentativePhone))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "representative_phone must be an E.164 number such as +4930123456");
        }

        RequireText(organisation.RepresentativeEvidence, "representative_evidence", 500);
    }

    public static void ValidateOptional(string? value, string field)
    {
        if (value is { Length: > 64 } || (value is not null && value.Any(char.IsControl)))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, $"{field} must be at most 64 printable characters");
        }
    }

    private static void RequireText(string? value, string field, int max)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Length > max || value.Any(char.IsControl))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, $"{field} is required (at most {max} printable characters)");
        }
    }

    [GeneratedRegex("^[A-Z]{2}$")]
    private static partial Regex CountryCode();

    [GeneratedRegex(@"^\+[1-9][0-9]{6,14}$")]
    private static partial Regex E164();
}
