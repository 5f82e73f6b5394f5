using DTrust.SigningServer.Credentials;
using DTrust.SigningServer.Signing;
using DTrust.Store;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using V1 = DTrust.Signing.V1;
using Vault = DTrust.KeyVault;

namespace DTrust.SigningServer.Api.Grpc;

/// <summary>Between the public contract (dtrust.signing.v1) and the store's records: enums by name, times as Timestamps.</summary>
internal static class ProtoMapping
{
    public static CredentialLevel ToLevel(V1.Level level) => level switch
    {
        V1.Level.Simple => CredentialLevel.Simple,
        V1.Level.Advanced => CredentialLevel.Advanced,
        V1.Level.Qualified => CredentialLevel.Qualified,
        V1.Level.QualifiedSeal => CredentialLevel.QualifiedSeal,
        V1.Level.AdvancedSeal => CredentialLevel.AdvancedSeal,
        _ => throw new DTrustException(ErrorKind.InvalidArgument, "level must be SIMPLE, ADVANCED, QUALIFIED, QUALIFIED_SEAL or ADVANCED_SEAL"),
    };

    public static System.Security.Cryptography.HashAlgorithmName ToHash(V1.HashAlgorithm algorithm) => algorithm switch
    {
        V1.HashAlgorithm.Sha256 => System.Security.Cryptography.HashAlgorithmName.SHA256,
        V1.HashAlgorithm.Sha384 => System.Security.Cryptography.HashAlgorithmName.SHA384,
        V1.HashAlgorithm.Sha512 => System.Security.Cryptography.HashAlgorithmName.SHA512,
        _ => throw new DTrustException(ErrorKind.InvalidArgument, "hash_algorithm must be SHA256, SHA384 or SHA512"),
    };

    public static V1.Level ToProto(CredentialLevel level) => level switch
    {
        CredentialLevel.Simple => V1.Level.Simple,
        CredentialLevel.Advanced => V1.Level.Advanced,
        CredentialLevel.Qualified => V1.Level.Qualified,
        CredentialLevel.QualifiedSeal => V1.Level.QualifiedSeal,
        CredentialLevel.AdvancedSeal => V1.Level.AdvancedSeal,
        _ => V1.Level.Unspecified,
    };

    public static Vault.KeyAlgorithm ToAlgorithm(V1.KeyAlgorithm algorithm) => algorithm switch
    {
        V1.KeyAlgorithm.EcP256 => Vault.KeyAlgorithm.EcP256,
        V1.KeyAlgorithm.EcP384 => Vault.KeyAlgorithm.EcP384,
        V1.KeyAlgorithm.Rsa2048 => Vault.KeyAlgorithm.Rsa2048,
        V1.KeyAlgorithm.Rsa3072 => Vault.KeyAlgorithm.Rsa3072,
        V1.KeyAlgorithm.Rsa4096 => Vault.KeyAlgorithm.Rsa4096,
        _ => throw new DTrustException(ErrorKind.InvalidArgument, "key_algorithm must be set (EC_P256, EC_P384, RSA_2048, RSA_3072, RSA_4096)"),
    };

    public static V1.KeyAlgorithm ToProto(Vault.KeyAlgorithm algorithm) => algorithm switch
    {
        Vault.KeyAlgorithm.EcP256 => V1.KeyAlgorithm.EcP256,
        Vault.KeyAlgorithm.EcP384 => V1.KeyAlgorithm.EcP384,
        Vault.KeyAlgorithm.Rsa2048 => V1.KeyAlgorithm.Rsa2048,
        Vault.KeyAlgorithm.Rsa3072 => V1.KeyAlgorithm.Rsa3072,
        Vault.KeyAlgorithm.Rsa4096 => V1.KeyAlgorithm.Rsa4096,
        _ => V1.KeyAlgorithm.Unspecified,
    };

    public static V1.CredentialStatus ToProto(CredentialStatus status) => status switch
    {
        CredentialStatus.NotActivated => V1.CredentialStatus.NotActivated,
        CredentialStatus.Valid => V1.CredentialStatus.Valid,
        CredentialStatus.Locked => V1.CredentialStatus.Locked,
        CredentialStatus.RevocationInProgress => V1.CredentialStatus.RevocationInProgress,
        CredentialStatus.Revoked => V1.CredentialStatus.Revoked,
        CredentialStatus.Expired => V1.CredentialStatus.Expired,
        _ => V1.CredentialStatus.Unspecified,
    };

    public static IdentificationMethod ToMethod(V1.IdentificationMethod method) => method switch
    {
        V1.IdentificationMethod.VideoIdent => IdentificationMethod.VideoIdent,
        V1.IdentificationMethod.Eid => IdentificationMethod.Eid,
        V1.IdentificationMethod.EidIdent => IdentificationMethod.EidIdent,
        V1.IdentificationMethod.PosIdent => IdentificationMethod.PosIdent,
        V1.IdentificationMethod.Postident => IdentificationMethod.Postident,
        V1.IdentificationMethod.NotarIdent => IdentificationMethod.NotarIdent,
        V1.IdentificationMethod.EmbassyIdent => IdentificationMethod.EmbassyIdent,
        V1.IdentificationMethod.OfficerIdent => IdentificationMethod.OfficerIdent,
        _ => throw new DTrustException(ErrorKind.InvalidArgument, "identification method must be set"),
    };

    public static V1.IdentificationMethod ToProto(IdentificationMethod method) => method switch
    {
        IdentificationMethod.VideoIdent => V1.IdentificationMethod.VideoIdent,
        IdentificationMethod.Eid => V1.IdentificationMethod.Eid,
        IdentificationMethod.EidIdent => V1.IdentificationMethod.EidIdent,
        IdentificationMethod.PosIdent => V1.IdentificationMethod.PosIdent,
        IdentificationMethod.Postident => V1.IdentificationMethod.Postident,
        IdentificationMethod.NotarIdent => V1.IdentificationMethod.NotarIdent,
        IdentificationMethod.EmbassyIdent => V1.IdentificationMethod.EmbassyIdent,
        IdentificationMethod.OfficerIdent => V1.IdentificationMethod.OfficerIdent,
        _ => V1.IdentificationMethod.Unspecified,
    };

    public static CallerRole ToRole(V1.CallerRole role) => role switch
    {
        V1.CallerRole.Operator => CallerRole.Operator,
        V1.CallerRole.Partner => CallerRole.Partner,
        _ => throw new DTrustException(ErrorKind.InvalidArgument, "role must be OPERATOR or PARTNER"),
    };

    public static V1.Holder ToProto(UserRecord user) => new()
    {
        UserId = user.UserId,
        GivenName = user.GivenName,
        Surname = user.Surname,
        Country = user.Country,
        Phone = user.Phone,
        Identification = user.Identification is { } id
            ? new V1.Identification
            {
                Method = ToProto(id.Method),
                VerifiedAt = Timestamp.FromDateTimeOffset(id.VerifiedAt),
                ValidUntil = Timestamp.FromDateTimeOffset(id.ValidUntil),
            }
            : null,
        IdentificationStale = user.IdentificationStale,
    };

    public static UserRecord FromProto(V1.Holder? holder, string tenant) => holder is null
        ? throw new DTrustException(ErrorKind.InvalidArgument, "holder is required")
        : new UserRecord
        {
            Tenant = tenant,
            UserId = holder.UserId,
            GivenName = holder.GivenName,
            Surname = holder.Surname,
            Country = holder.Country,
            Phone = holder.Phone,
        };

    public static Identification FromProto(V1.Identification? evidence) => evidence?.VerifiedAt is null || evidence.ValidUntil is null
        ? throw new DTrustException(ErrorKind.InvalidArgument, "identification needs method, verified_at and valid_until")
        : new Identification(ToMethod(evidence.Method), evidence.VerifiedAt.ToDateTimeOffset(), evidence.ValidUntil.ToDateTimeOffset());

    public static V1.Credential ToProto(CredentialRecord c, IReadOnlyList<byte[]> chain)
    {
        var result = new V1.Credential
        {
            CredentialId = c.Id,
            UserId = c.UserId,
            Organisation = c.Organisation ?? "",
            Function = c.Function ?? "",
            Level = ToProto(c.Level),
            KeyAlgorithm = ToProto(c.Algorithm),
            Status = ToProto(c.Status),
            Certificate = ByteString.CopyFrom(c.Certificate),
            NotAfter = Timestamp.FromDateTimeOffset(c.NotAfter),
            OneFactorConsent = c.OneFactorConsentAt is not null,
            FailedPinCount = c.FailedPinCount,
            CreatedAt = Timestamp.FromDateTimeOffset(c.CreatedAt),
            SealCallers = { c.SealCallers },
        };
        result.CertificateChain.AddRange(chain.Select(ByteString.CopyFrom));
        return result;
    }

    public static OrganisationRecord FromProto(V1.Organisation? o, string tenant) => o is null
        ? throw new DTrustException(ErrorKind.InvalidArgument, "organisation is required")
        : new OrganisationRecord
        {
            Tenant = tenant,
            OrganisationId = o.OrganisationId,
            Name = o.Name,
            Country = o.Country,
            Identifier = o.Identifier,
            Representative = o.Representative,
            RepresentativeEvidence = o.RepresentativeEvidence,
            RepresentativePhone = o.RepresentativePhone,
            EvidenceVerifiedAt = o.EvidenceVerifiedAt?.ToDateTimeOffset() ?? default,
        };

    public static V1.Organisation ToProto(OrganisationRecord o) => new()
    {
        OrganisationId = o.OrganisationId,
        Name = o.Name,
        Country = o.Country,
        Identifier = o.Identifier,
        Representative = o.Representative,
        RepresentativeEvidence = o.RepresentativeEvidence,
        RepresentativePhone = o.RepresentativePhone,
        EvidenceVerifiedAt = Timestamp.FromDateTimeOffset(o.EvidenceVerifiedAt),
    };

    public static V1.Caller ToProto(CallerRecord caller) => new()
    {
        CallerId = caller.Id,
        Name = caller.Name,
        Role = caller.Role == CallerRole.Operator ? V1.CallerRole.Operator : V1.CallerRole.Partner,
        CreatedAt = Timestamp.FromDateTimeOffset(caller.CreatedAt),
        Revoked = caller.RevokedAt is not null,
        ReturnUrls = { caller.ReturnUrls },
    };

    public static V1.AuthorizationStatus ToProto(ApprovalStatus status) => new()
    {
        AuthorizationId = status.Id,
        CredentialId = status.CredentialId,
        State = status.State switch
        {
            ApprovalState.Pending => V1.AuthorizationState.Pending,
            ApprovalState.Approved => V1.AuthorizationState.Approved,
            ApprovalState.Rejected => V1.AuthorizationState.Rejected,
            ApprovalState.Expired => V1.AuthorizationState.Expired,
            _ => V1.AuthorizationState.Used,
        },
        ExpiresAt = Timestamp.FromDateTimeOffset(status.ExpiresAt),
        Sad = status.Sad ?? "",
        Factor = status.Factor ?? "",
    };
}
