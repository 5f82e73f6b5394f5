using System.Formats.Asn1;

namespace DTrust.Tsa.Tests;

/// <summary>Hand-built TimeStampReq DER, so tests can produce requests openssl refuses to make.</summary>
internal sealed record RequestBuilder
{
    public const string Sha1 = "1.3.14.3.2.26";
    public const string Sha256 = "2.16.840.1.101.3.4.2.1";
    public const string Sha512 = "2.16.840.1.101.3.4.2.3";

    public int Version { get; init; } = 1;

    public string HashOid { get; init; } = Sha256;

    public bool NullParameters { get; init; }

    public byte[] Digest { get; init; } = new byte[32];

    public string? Policy { get; init; }

    public byte[]? Nonce { get; init; }

    public bool? CertReq { get; init; }

    public IReadOnlyList<(string Oid, bool Critical)> Extensions { get; init; } = [];

    public byte[] Encode()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            w.WriteInteger(Version);
            using (w.PushSequence())
            {
                using (w.PushSequence())
                {
                    w.WriteObjectIdentifier(HashOid);
                    if (NullParameters)
                    {
                        w.WriteNull();
                    }
                }

                w.WriteOctetString(Digest);
            }

            if (Policy is not null)
            {
                w.WriteObjectIdentifier(Policy);
            }

            if (Nonce is not null)
            {
                w.WriteInteger(Nonce);
            }

            if (CertReq is { } certReq)
            {
                w.WriteBoolean(certReq);
            }

            if (Extensions.Count > 0)
            {
                using (w.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                {
                    foreach (var (oid, critical) in Extensions)
                    {
                        using (w.PushSequence())
                        {
                            w.WriteObjectIdentifier(oid);
                            if (critical)
                            {
                                w.WriteBoolean(true);
                            }

                            w.WriteOctetString([0x05, 0x00]);
                        }
                    }
                }
            }
        }

        return w.Encode();
    }
}
