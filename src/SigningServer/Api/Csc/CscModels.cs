using System.Text.Json.Serialization;

namespace DTrust.SigningServer.Api.Csc;

// Request bodies of the CSC API, v1.0.4.0 and v2 names side by side (a v2 client sends "hashes" and
// "hashAlgorithmOID", a v1 client "hash" and "hashAlgo"). Property names are the specification's, case-sensitive.

internal sealed class CscInfoRequest
{
    [JsonPropertyName("lang")]
    public string? Lang { get; set; }
}

internal sealed class CscListRequest
{
    [JsonPropertyName("userID")]
    public string? UserId { get; set; }

    [JsonPropertyName("maxResults")]
    public int? MaxResults { get; set; }

    [JsonPropertyName("pageToken")]
    public string? PageToken { get; set; }

    [JsonPropertyName("onlyValid")]
    public bool? OnlyValid { get; set; }

    [JsonPropertyName("credentialInfo")]
    public bool? CredentialInfo { get; set; }

    [JsonPropertyName("certificates")]
    public string? Certificates { get; set; }

    [JsonPropertyName("certInfo")]
    public bool? CertInfo { get; set; }

    [JsonPropertyName("authInfo")]
    public bool? AuthInfo { get; set; }

    [JsonPropertyName("clientData")]
    public string? ClientData { get; set; }
}

internal sealed class CscCredentialRequest
{
    [JsonPropertyName("credentialID")]
    public string? CredentialId { get; set; }

    [JsonPropertyName("certificates")]
    public string? Certificates { get; set; }

    [JsonPropertyName("certInfo")]
    public bool? CertInfo { get; set; }

    [JsonPropertyName("authInfo")]
    public bool? AuthInfo { get; set; }

    [JsonPropertyName("lang")]
    public string? Lang { get; set; }

    [JsonPropertyName("clientData")]
    public string? ClientData { get; set; }
}

internal sealed class CscAuthData
{
    [JsonPropertyName("id")]
    public string? Id { get; set; }

    [JsonPropertyName("value")]
    public string? Value { get; set; }
}

internal sealed class CscAuthorizeRequest
{
    [JsonPropertyName("credentialID")]
    public string? CredentialId { get; set; }

    [JsonPropertyName("numSignatures")]
    public int? NumSignatures { get; set; }

    [JsonPropertyName("hash")]
    public string?[]? Hash { get; set; }

    [JsonPropertyName("hashes")]
    public string?[]? Hashes { get; set; }

    [JsonPropertyName("hashAlgo")]
    public string? HashAlgo { get; set; }

    [JsonPropertyName("hashAlgorithmOID")]
    public string? HashAlgorithmOid { get; set; }

    [JsonPropertyName("PIN")]
    public string? Pin { get; set; }

    [JsonPropertyName("OTP")]
    public string? Otp { get; set; }

    [JsonPropertyName("authData")]
    public CscAuthData?[]? AuthData { get; set; }

    [JsonPropertyName("description")]
    public string? Description { get; set; }

    [JsonPropertyName("clientData")]
    public string? ClientData { get; set; }
}

internal sealed class CscSignHashRequest
{
    [JsonPropertyName("credentialID")]
    public string? CredentialId { get; set; }

    [JsonPropertyName("SAD")]
    public string? Sad { get; set; }

    [JsonPropertyName("hash")]
    public string?[]? Hash { get; set; }

    [JsonPropertyName("hashes")]
    public string?[]? Hashes { get; set; }

    [JsonPropertyName("hashAlgo")]
    public string? HashAlgo { get; set; }

    [JsonPropertyName("hashAlgorithmOID")]
    public string? HashAlgorithmOid { get; set; }

    [JsonPropertyName("signAlgo")]
    public string? SignAlgo { get; set; }

    [JsonPropertyName("signAlgoParams")]
    public string? SignAlgoParams { get; set; }

    [JsonPropertyName("operationMode")]
    public string? OperationMode { get; set; }

    [JsonPropertyName("clientData")]
    public string? ClientData { get; set; }
}

internal sealed class CscTimestampRequest
{
    [JsonPropertyName("hash")]
    public string? Hash { get; set; }

    [JsonPropertyName("hashAlgo")]
    public string? HashAlgo { get; set; }

    [JsonPropertyName("hashAlgorithmOID")]
    public string? HashAlgorithmOid { get; set; }

    [JsonPropertyName("nonce")]
    public string? Nonce { get; set; }

    [JsonPropertyName("clientData")]
    public string? ClientData { get; set; }
}

/// <summary>One entry of v2's <c>authorization_details</c> (RFC 9396) on oauth2/authorize.</summary>
internal sealed class CscAuthorizationDetail
{
    [JsonPropertyName("type")]
    public string? Type { get; set; }

    [JsonPropertyName("credentialID")]
    public string? CredentialId { get; set; }

    [JsonPropertyName("hashAlgorithmOID")]
    public string? HashAlgorithmOid { get; set; }

    [JsonPropertyName("documentDigests")]
    public CscDocumentDigest?[]? DocumentDigests { get; set; }
}

internal sealed class CscDocumentDigest
{
    [JsonPropertyName("hash")]
    public string? Hash { get; set; }

    [JsonPropertyName("label")]
    public string? Label { get; set; }
}

[JsonSourceGenerationOptions(NumberHandling = JsonNumberHandling.Strict, ReadCommentHandling = System.Text.Json.JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(CscInfoRequest))]
[JsonSerializable(typeof(CscListRequest))]
[JsonSerializable(typeof(CscCredentialRequest))]
[JsonSerializable(typeof(CscAuthorizeRequest))]
[JsonSerializable(typeof(CscSignHashRequest))]
[JsonSerializable(typeof(CscTimestampRequest))]
[JsonSerializable(typeof(CscAuthorizationDetail[]))]
internal sealed partial class CscJson : JsonSerializerContext;
