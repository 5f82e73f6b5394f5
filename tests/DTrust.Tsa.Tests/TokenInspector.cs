using System.Formats.Asn1;
using System.Security.Cryptography.Pkcs;
using System.Text;
using Xunit;

namespace DTrust.Tsa.Tests;

/// <summary>Reads tokens back with .NET's RFC 3161 types plus a raw look at TSTInfo where those hide details.</summary>
internal static class TokenInspector
{
    public static Rfc3161TimestampToken Decode(TsaResult result)
    {
        Assert.True(result.IsGranted, result.StatusText);
        Assert.True(Rfc3161TimestampToken.TryDecode(result.Token, out var token, out var consumed));
        Assert.Equal(result.Token.Length, consumed);
        return token!;
    }

    /// <summary>The GeneralizedTime text exactly as encoded, e.g. "20260101120000.12Z".</summary>
    public static string RawGenTime(TsaResult result)
    {
        var tstInfo = Decode(result).AsSignedCms().ContentInfo.Content;
        var seq = new AsnReader(tstInfo, AsnEncodingRules.DER).ReadSequence();
        seq.ReadInteger();
        seq.ReadObjectIdentifier();
        seq.ReadEncodedValue();
        seq.ReadInteger();
        var encoded = seq.ReadEncodedValue().Span;
        Assert.Equal(0x18, encoded[0]);
        return Encoding.ASCII.GetString(encoded[2..]);
    }
}
