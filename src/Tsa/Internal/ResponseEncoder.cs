using System.Formats.Asn1;

namespace DTrust.Tsa.Internal;

/// <summary>TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo OPTIONAL }.</summary>
internal static class ResponseEncoder
{
    /// <summary>Returns the response and where the token starts inside it, so callers can slice the token out.</summary>
    public static (byte[] Response, int TokenOffset) Granted(ReadOnlySpan<byte> token)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: token.Length + 16);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteInteger((int)PkiStatus.Granted);
            }

            writer.WriteEncodedValue(token);
        }

        var response = writer.Encode();
        return (response, response.Length - token.Length);
    }

    public static byte[] Rejected(PkiFailureInfo failure, string statusText)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteInteger((int)PkiStatus.Rejection);

                // PKIFreeText ::= SEQUENCE OF UTF8String
                using (writer.PushSequence())
                {
                    writer.WriteCharacterString(UniversalTagNumber.UTF8String, statusText);
                }

                writer.WriteNamedBitList(failure);
            }
        }

        return writer.Encode();
    }
}
