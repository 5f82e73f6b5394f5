namespace DTrust.Core;

// The ports between the CA (DTrust.Pki) and the registration store (DTrust.Store): the CA reads revocations and
// shares CRLs through them, and the store implements them, so neither project references the other.

/// <summary>A signed CRL as published to every node: the number orders them, the DER is what every node serves.</summary>
public sealed record PublishedCrl(CredentialLevel Level, long Number, DateTimeOffset ThisUpdate, DateTimeOffset NextUpdate, byte[] Der);

/// <summary>A revoked certificate as a CRL or OCSP responder lists it.</summary>
public sealed record RevokedCertificate(string SerialHex, DateTimeOffset RevokedAt, int Reason);

/// <summary>How the store knows a certificate serial, for OCSP: unknown, good, or revoked since when and why.</summary>
public sealed record SerialStanding(bool Known, RevokedCertificate? Revocation)
{
    public static readonly SerialStanding Unknown = new(false, null);
    public static readonly SerialStanding Good = new(true, null);
}

/// <summary>What the CA reads of the credentials it certified.</summary>
public interface IRevocationSource
{
    /// <summary>Revoked certificates (revocation in progress or done) of one level's CA, for its CRL.</summary>
    Task<IReadOnlyList<RevokedCertificate>> ListRevokedAsync(CredentialLevel level, CancellationToken ct);

    /// <summary>
    /// The standing of the certificate with this serial under the level's CA, any tenant: revoked from the moment
    /// revocation starts, as the CRL lists it; a serial the store never issued is unknown, never good.
    /// </summary>
    Task<SerialStanding> StandingAsync(CredentialLevel level, string serialHex, CancellationToken ct);
}

/// <summary>
/// The CRLs every node serves, in the store all nodes share: a node serves the latest published here, so after a
/// revocation every node hands out the same CRL (same number, same bytes) within seconds. Kept, not replaced: the
/// series is evidence of what was published when.
/// </summary>
public interface ICrlStore
{
    /// <summary>The CRL of <paramref name="level"/> with the highest number; null before the first.</summary>
    Task<PublishedCrl?> GetLatestCrlAsync(CredentialLevel level, CancellationToken ct);

    /// <summary>
    /// Stores <paramref name="crl"/> if no CRL of its level has its number or a higher one; false if another node
    /// published that number (or a later one) first. Numbers thereby only ever increase, across all nodes.
    /// </summary>
    Task<bool> InsertCrlAsync(PublishedCrl crl, CancellationToken ct);
}
