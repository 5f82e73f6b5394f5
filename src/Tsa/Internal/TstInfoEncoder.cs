using System.Formats.Asn1;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Tsa.Internal;

/// <summary>
/// Encodes TSTInfo (RFC 3161 §2.4.2). Parts that never change between tokens (accuracy, tsa name, extensions) are
/// encoded once at construction; each token adds policy, imprint, serial, genTime and nonce.
/// </summary>
internal sealed class TstInfoEncoder
{
    private static readonly Asn1Tag TsaTag = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag DirectoryNameTag = new(TagClass.ContextSpecific, 4, isConstructed: true);
    private static readonly Asn1Tag ExtensionsTag = new(TagClass.ContextSpecific, 1, isConstructed: true);
    private static readonly Asn1Tag MillisTag = new(TagClass.ContextSpecific, 0);
    private static readonly Asn1Tag MicrosTag = new(TagClass.ContextSpecific, 1);

    private readonly byte[] _accuracy;
    private readonly byte[]? _tsaName;
    private readonly byte[]? _extensions;
    private readonly Dictionary<string, byte[]> _policies = new(StringComparer.Ordinal);

    public TstInfoEncoder(IEnumerable<string> policies, TimeSpan accuracy, X500DistinguishedName? tsaName, bool qualified)
    {
        foreach (var policy in policies)
        {
            var writer = new AsnWriter(AsnEncodingRules.DER);
            writer.WriteObjectIdentifier(policy);
            _policies[policy] = writer.Encode();
        }

        _accuracy = EncodeAccuracy(accuracy);
        _tsaName = tsaName is null ? null : EncodeTsaName(tsaName);
        _extensions = qualified ? EncodeQualifiedExtensions() : null;
    }

    /// <param name="policy">One of the policies given at construction (the request parser only lets those through).</param>
    public byte[] Encode(
        string policy,
        ReadOnlySpan<byte> messageImprint,
        ReadOnlySpan<byte> serial,
        DateTimeOffset genTime,
        ReadOnlySpan<byte> nonce)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER, initialCapacity: 256);
        using (writer.PushSequence())
        {
            writer.WriteInteger(1);
            writer.WriteEncodedValue(_policies[policy]);
            writer.WriteEncodedValue(messageImprint);
            writer.WriteIntegerUnsigned(serial);

            // DER GeneralizedTime: UTC, fraction without trailing zeros and no dot when whole (X.690 §11.7).
            writer.WriteGeneralizedTime(genTime, omitFractionalSeconds: false);
            writer.WriteEncodedValue(_accuracy);

            // ordering is DEFAULT FALSE and we never order, so DER leaves it out.
            if (!nonce.IsEmpty)
            {
                writer.WriteInteger(nonce);
            }

            if (_tsaName is not null)
            {
                writer.WriteEncodedValue(_tsaName);
            }

            if (_extensions is not null)
            {
                writer.WriteEncodedValue(_extensions);
            }
        }

        return writer.Encode();
    }

    /// <summary>Accuracy ::= SEQUENCE { seconds INTEGER OPTIONAL, millis [0] 1..999 OPTIONAL, micros [1] 1..999 OPTIONAL }.</summary>
    internal static byte[] EncodeAccuracy(TimeSpan accuracy)
    {
        var totalMicros = accuracy.Ticks / TimeSpan.TicksPerMicrosecond;
        var seconds = totalMicros / 1_000_000;
        var millis = totalMicros / 1000 % 1000;
        var micros = totalMicros % 1000;

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            // Zero parts are omitted: the ranges start at 1 and an absent field counts as zero (RFC 3161 §2.4.2).
            if (seconds > 0)
            {
                writer.WriteInteger(seconds);
            }

            if (millis > 0)
            {
                writer.WriteInteger(millis, MillisTag);
            }

            if (micros > 0)
            {
                writer.WriteInteger(micros, MicrosTag);
            }
        }

        return writer.Encode();
    }

    /// <summary>tsa [0] GeneralName, as directoryName [4] Name; both tags explicit because they wrap CHOICEs.</summary>
    private static byte[] EncodeTsaName(X500DistinguishedName name)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence(TsaTag))
        {
            using (writer.PushSequence(DirectoryNameTag))
            {
                writer.WriteEncodedValue(name.RawData);
            }
        }

        return writer.Encode();
    }

    /// <summary>
    /// extensions [1] IMPLICIT Extensions with qcStatements holding esi4-qtstStatement-1 and no statementInfo
    /// (ETSI EN 319 422 §9.1). Non-critical, so verifiers that do not know it still accept the token.
    /// </summary>
    private static byte[] EncodeQualifiedExtensions()
    {
        var statements = new AsnWriter(AsnEncodingRules.DER);
        using (statements.PushSequence())
        {
            using (statements.PushSequence())
            {
                statements.WriteObjectIdentifier(Oids.QtstStatement1);
            }
        }

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence(ExtensionsTag))
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(Oids.QcStatements);
                writer.WriteOctetString(statements.Encode());
            }
        }

        return writer.Encode();
    }
}
