using System.Formats.Asn1;

namespace DTrust.Tsa.Internal;

internal static class AsnReaderExtensions
{
    /// <summary>Trailing bytes make a request ambiguous; they are a format error, like any other bad DER.</summary>
    public static void EnsureAtEnd(this AsnReader reader)
    {
        if (reader.HasData)
        {
            throw new AsnContentException("unexpected data after the end of a structure");
        }
    }
}
