namespace DTrust.Pki;

/// <summary>
/// The organizationIdentifier form of EN 319 412-1 §5.1.4: three letters for the kind of register (VAT, NTR for a
/// national trade register, PSD, LEI), the two-letter country (XG for LEI), a hyphen, and the identifier the register
/// gave, e.g. <c>NTRDE-HRB12345</c>, <c>VATDE-123456789</c>, <c>LEIXG-529900T8BM49AURSDO55</c>.
/// </summary>
public static class OrganisationIdentifiers
{
    public const string Rule =
        "the organisation identifier must read like NTRDE-HRB12345: VAT, NTR, PSD or LEI, a country code (XG for LEI), " +
        "a hyphen and the register's identifier (letters, digits, at most 60 characters in all)";

    private static readonly string[] Kinds = ["VAT", "NTR", "PSD", "LEI"];

    public static bool IsValid(string? value)
    {
        if (value is not { Length: > 6 and <= 60 } || value[5] != '-' || !Kinds.Contains(value[..3], StringComparer.Ordinal))
        {
            return false;
        }

        var country = value.AsSpan(3, 2);
        if (!char.IsAsciiLetterUpper(country[0]) || !char.IsAsciiLetterUpper(country[1]))
        {
            return false;
        }

        var rest = value.AsSpan(6);
        if (value.StartsWith("LEI", StringComparison.Ordinal) && (!country.SequenceEqual("XG") || rest.Length != 20))
        {
            return false;
        }

        foreach (var c in rest)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '.' or '/'))
            {
                return false;
            }
        }

        return true;
    }
}
