using System.Formats.Asn1;

namespace DTrust.Tsa.Internal;

internal static class OidSyntax
{
    /// <summary>True when the text encodes as an OBJECT IDENTIFIER; catches typos in configuration at start-up.</summary>
    public static bool IsValid(string? oid)
    {
        if (string.IsNullOrEmpty(oid))
        {
            return false;
        }

        try
        {
            var writer = new AsnWriter(AsnEncodingRules.DER);
            writer.WriteObjectIdentifier(oid);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
