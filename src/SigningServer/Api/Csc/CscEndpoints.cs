using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using DTrust.SigningServer.Api.Http;
using DTrust.SigningServer.Callers;
using DTrust.SigningServer.Credentials;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Policy;
using DTrust.SigningServer.Signing;
using DTrust.SigningServer.Timestamping;
using DTrust.Store;
using Microsoft.AspNetCore.Http.Features;

namespace DTrust.SigningServer.Api.Csc;

/// <summary>
/// The Cloud Signature Consortium API (v2, and v1.0.4.0 under <c>/csc/v1</c>) on its own listener: mapping only.
/// Credentials come from the <see cref="CredentialRegistry"/>, authorization and signing from the
/// <see cref="SigningFlow"/> (the same checks, audit and counters as gRPC), refusals from the error table.
/// </summary>
internal static partial class CscEndpoints
{
    /// <summary>A request of 100 hashes is a few kB; a body far larger is not a CSC request.</summary>
    public const int MaxBodyBytes = 256 * 1024;

    // JSON answers are not HTML: base64's '+' and '/' go out as they are, not as \u002B.
    internal static readonly JsonSerializerOptions Wire = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void MapCscApi(this IEndpointRouteBuilder app, ListenerPort csc, ListenerPort holder)
    {
        foreach (var v2 in new[] { true, false })
        {
            var prefix = v2 ? "/csc/v2" : "/csc/v1";
            var open = app.MapGroup(prefix).OnListener(csc).AllowAnonymous().WithPublicRateLimit();
            open.MapMethods("/info", ["GET", "POST"], (HttpContext http, ServerOptions server) =>
                Handle(http, "info", CscJson.Default.CscInfoRequest, _ => Task.FromResult<JsonObject?>(Info(server, v2))));
            // info's oauth2 base is the holder's origin, so clients that derive the OAuth endpoints from it find
            // token and par there too, beside the API.
            open.MapPost("/oauth2/token", (HttpContext http, CallerDirectory callers, SigningFlow flow) => TokenAsync(http, callers, flow))
                .OnListener(holder);

            var partner = app.MapGroup(prefix).OnListener(csc).WithMetadata(new AllowRolesAttribute(CallerRole.Partner));
            partner.MapPost("/credentials/list", (HttpContext http, CredentialRegistry registry, ICertificateAuthority ca, SigningOptions options) =>
                Handle(http, "credentials/list", CscJson.Default.CscListRequest, r => ListAsync(http, r, v2, registry, ca, options)));
            partner.MapPost("/credentials/info", (HttpContext http, CredentialRegistry registry, ICertificateAuthority ca, SigningOptions options) =>
                Handle(http, "credentials/info", CscJson.Default.CscCredentialRequest, async r =>
                    Describe(await registry.GetAsync(http.Caller(), Required(r.CredentialId, "credentialID"), http.RequestAborted),
                        r.Certificates, r.CertInfo ?? false, r.AuthInfo ?? true, v2, ca, options)));
            partner.MapPost("/credentials/sendOTP", (HttpContext http, SigningFlow flow) =>
                Handle(http, "credentials/sendOTP", CscJson.Default.CscCredentialRequest, async r =>
                {
                    await flow.SendCodeAsync(http.Caller(), Required(r.CredentialId, "credentialID"), http.RequestAborted);
                    return null;
                }));
            partner.MapPost("/credentials/authorize", (HttpContext http, SigningFlow flow) =>
                Handle(http, "credentials/authorize", CscJson.Default.CscAuthorizeRequest, r => AuthorizeAsync(http, r, flow)));
            partner.MapPost("/signatures/signHash", (HttpContext http, SigningFlow flow) =>
                Handle(http, "signatures/signHash", CscJson.Default.CscSignHashRequest, r => SignHashAsync(http, r, flow)));
            partner.MapPost("/signatures/timestamp", (HttpContext http, TsaResponder tsa) =>
                Handle(http, "signatures/timestamp", CscJson.Default.CscTimestampRequest, r => TimestampAsync(http, r, tsa)));

            partner.MapPost("/oauth2/par", (HttpContext http, SigningFlow flow) => ParAsync(http, flow)).OnListener(holder);

            // The holder's browser comes here: it is on the holder's origin, next to the approval page it leads to.
            app.MapGet(prefix + "/oauth2/authorize", (HttpContext http, SigningFlow flow) => OAuthAuthorizeAsync(http, flow))
                .OnListener(holder).AllowAnonymous().WithPublicRateLimit();
        }
    }

    // ---- info ----

    private static JsonObject Info(ServerOptions server, bool v2)
    {
        var holderOrigin = server.Listen.HolderOriginUri.ToString().TrimEnd('/');
        var prefix = v2 ? "/csc/v2" : "/csc/v1";
        var info = new JsonObject
        {
            ["specs"] = v2 ? "2.0.0.2" : "1.0.4.0",
            ["name"] = "DTrust",
            ["logo"] = holderOrigin + "/holder/logo.svg",
            ["region"] = "DE",
            ["lang"] = "en-US",
            ["description"] = "DTrust remote signing service: advanced and qualified signatures in an HSM",
            ["authType"] = Array(server.Listen.ClientCertificateMode == Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.NoCertificate
                ? ["external", "oauth2code"] : ["external", "TLS", "oauth2code"]),
            ["oauth2"] = holderOrigin + prefix,
            ["methods"] = Array(
                "info", "credentials/list", "credentials/info", "credentials/authorize", "credentials/sendOTP",
                "oauth2/par", "oauth2/authorize", "oauth2/token", "signatures/signHash", "signatures/timestamp"),
            ["signAlgorithms"] = new JsonObject { ["algos"] = Array(CscAlgorithms.SignAlgorithms) },
        };
        if (v2)
        {
            info["oauth2Issuer"] = holderOrigin;
            info["validationInfo"] = false;
        }

        return info;
    }

    // ---- credentials ----

    private static async Task<JsonObject?> ListAsync(
        HttpContext http, CscListRequest r, bool v2, CredentialRegistry registry, ICertificateAuthority ca, SigningOptions options)
    {
        // A partner's API key is a service's, not a user's: whose credentials it means must be said.
        var user = Required(r.UserId, "userID");
        if (r.MaxResults is < 1 or > 500)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "maxResults must be between 1 and 500");
        }

        var (page, next) = await registry.ListAsync(http.Caller(), user, r.OnlyValid ?? false, r.PageToken, r.MaxResults ?? 100, http.RequestAborted);
        var answer = new JsonObject { ["credentialIDs"] = Array([.. page.Select(c => c.Id)]) };
        if (next is not null)
        {
            answer["nextPageToken"] = next;
        }

        if (v2 && r.CredentialInfo == true)
        {
            var infos = new JsonArray();
            foreach (var credential in page)
            {
                var info = Describe(credential, r.Certificates, r.CertInfo ?? false, r.AuthInfo ?? false, v2, ca, options);
                info["credentialID"] = credential.Id;
                infos.Add(info);
            }

            answer["credentialInfos"] = infos;
        }

        if (v2)
        {
            answer["onlyValid"] = r.OnlyValid ?? false;
        }

        return answer;
    }

    private static JsonObject Describe(
        CredentialRecord credential, string? certificates, bool certInfo, bool authInfo, bool v2, ICertificateAuthority ca, SigningOptions options)
    {
        var usable = credential.Status == CredentialStatus.Valid;
        byte[][] chain = (certificates ?? "single") switch
        {
            "none" => [],
            "single" => [credential.Certificate],
            "chain" => [credential.Certificate, .. ca.Chain(credential.Level)],
            _ => throw new DTrustException(ErrorKind.InvalidArgument, "certificates must be none, single or chain"),
        };
        var key = new JsonObject
        {
            ["status"] = usable ? "enabled" : "disabled",
            ["algo"] = Array(CscAlgorithms.KeyAlgorithms(credential.Algorithm)),
            ["len"] = CscAlgorithms.KeyLength(credential.Algorithm),
        };
        if (CscAlgorithms.Curve(credential.Algorithm) is { } curve)
        {
            key["curve"] = curve;
        }

        var cert = new JsonObject
        {
            ["status"] = credential.Status switch
            {
                CredentialStatus.Expired => "expired",
                CredentialStatus.Revoked or CredentialStatus.RevocationInProgress => "revoked",
                _ => "valid",
            },
            ["certificates"] = Array([.. chain.Select(Convert.ToBase64String)]),
        };
        if (certInfo)
        {
            using var x509 = X509CertificateLoader.LoadCertificate(credential.Certificate);
            cert["issuerDN"] = x509.Issuer;
            cert["serialNumber"] = x509.SerialNumber;
            cert["subjectDN"] = x509.Subject;
            cert["validFrom"] = x509.NotBefore.ToUniversalTime().ToString("yyyyMMddHHmmss'Z'", CultureInfo.InvariantCulture);
            cert["validTo"] = x509.NotAfter.ToUniversalTime().ToString("yyyyMMddHHmmss'Z'", CultureInfo.InvariantCulture);
        }

        // The mode the policy lets this level sign in: the holder's page where that is sole control, a seal by its
        // registered caller alone (implicit: signHash without a SAD), else relayed factors.
        var soleControl = SigningPolicy.SoleControl(credential.Level, options.ExplicitQualified);
        var implicitMode = SigningPolicy.AllowedModes(credential.Level).Contains(SigningMode.Seal);
        var explicitMode = !soleControl && !implicitMode;
        var otp = SigningFlow.NeedsOtp(credential);
        var info = new JsonObject
        {
            ["description"] = string.Join(" / ", new[] { credential.Organisation, credential.Function }.Where(s => !string.IsNullOrEmpty(s)))
                is { Length: > 0 } d ? d : credential.Level.ToString().ToUpperInvariant() + " credential",
            ["key"] = key,
            ["cert"] = cert,
            ["authMode"] = implicitMode ? "implicit" : explicitMode ? "explicit" : "oauth2code",
            ["SCAL"] = soleControl ? "2" : "1",
            ["multisign"] = options.MaxHashesPerChallenge,
            ["lang"] = "en-US",
        };
        if (v2)
        {
            info["signatureQualifier"] = credential.Level switch
            {
                CredentialLevel.Qualified => "eu_eidas_qes",
                CredentialLevel.QualifiedSeal => "eu_eidas_qeseal",
                // QCP-l: an advanced seal with a qualified certificate.
                CredentialLevel.AdvancedSeal => "eu_eidas_aesealqc",
                _ => "eu_eidas_aes",
            };
        }

        if (authInfo && implicitMode)
        {
            if (v2)
            {
                info["auth"] = new JsonObject { ["mode"] = "implicit" };
            }
            else
            {
                info["PIN"] = new JsonObject { ["presence"] = "false" };
                info["OTP"] = new JsonObject { ["presence"] = "false" };
            }
        }
        else if (authInfo && explicitMode)
        {
            if (v2)
            {
                var objects = new JsonArray { new JsonObject { ["type"] = "Password", ["id"] = "PIN", ["format"] = "N", ["label"] = "Activation PIN" } };
                if (otp)
                {
                    objects.Add(new JsonObject { ["type"] = "Password", ["id"] = "OTP", ["format"] = "N", ["generator"] = "sms", ["label"] = "SMS code" });
                }

                info["auth"] = new JsonObject { ["mode"] = "explicit", ["expression"] = otp ? "PIN AND OTP" : "PIN", ["objects"] = objects };
            }
            else
            {
                info["PIN"] = new JsonObject { ["presence"] = "true", ["format"] = "N", ["label"] = "Activation PIN" };
                info["OTP"] = otp
                    ? new JsonObject { ["presence"] = "true", ["type"] = "online", ["format"] = "N", ["label"] = "SMS code", ["ID"] = "sms", ["provider"] = "DTrust" }
                    : new JsonObject { ["presence"] = "false" };
            }
        }
        else if (authInfo && v2)
        {
            info["auth"] = new JsonObject { ["mode"] = "oauth2code" };
        }

        return info;
    }

    // ---- authorization (explicit) ----

    private static async Task<JsonObject?> AuthorizeAsync(HttpContext http, CscAuthorizeRequest r, SigningFlow flow)
    {
        var hashes = Hashes(r.Hashes ?? r.Hash);
        var hash = HashAlgorithm(r.HashAlgorithmOid ?? r.HashAlgo, hashes);
        if (r.NumSignatures is { } n && n != hashes.Count)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "numSignatures must equal the number of hashes: a SAD here signs exactly the hashes it names");
        }

        var pin = r.Pin ?? r.AuthData?.FirstOrDefault(a => a?.Id == "PIN")?.Value;
        var otp = r.Otp ?? r.AuthData?.FirstOrDefault(a => a?.Id == "OTP")?.Value;
        var authorization = await flow.AuthorizeToSadAsync(
            http.Caller(), Required(r.CredentialId, "credentialID"), hashes, hash, r.Description, pin, otp, http.RequestAborted);
        return new JsonObject
        {
            ["SAD"] = CscSad.Encode(authorization.AuthorizationId, authorization.Sad),
            ["expiresIn"] = (long)Math.Max(1, (authorization.ExpiresAt - DateTimeOffset.UtcNow).TotalSeconds),
        };
    }

    // ---- signing ----

    private static async Task<JsonObject?> SignHashAsync(HttpContext http, CscSignHashRequest r, SigningFlow flow)
    {
        if (r.OperationMode is not (null or "S"))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "operationMode must be S (asynchronous signing is not offered)");
        }

        var credentialId = Required(r.CredentialId, "credentialID");

        // No SAD: only a seal (authMode implicit) signs so; the flow refuses any other credential.
        var (authorizationId, sad) = r.Sad is null
            ? ("", null)
            : CscSad.Decode(r.Sad) ?? throw new DTrustException(ErrorKind.InvalidArgument, "the SAD is not one this service issued");
        var algorithm = CscAlgorithms.SignAlgorithm(Required(r.SignAlgo, "signAlgo"))
            ?? throw new DTrustException(ErrorKind.InvalidArgument, $"signAlgo {r.SignAlgo} is not supported; info lists the algorithms");
        var hashes = Hashes(r.Hashes ?? r.Hash);
        var named = r.HashAlgorithmOid ?? r.HashAlgo;
        var hash = named is null && algorithm.Hash is { } implied ? implied : HashAlgorithm(named, hashes);
        if (algorithm.Hash is { } signHash && signHash != hash)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "signAlgo and the hash algorithm name different digests");
        }

        if (!algorithm.Ec && !algorithm.RsaPkcs1 && CscAlgorithms.PssParamsProblem(r.SignAlgoParams, hash) is { } pss)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, pss);
        }

        var result = await flow.SignAsync(
            http.Caller(),
            new SignatureRequest(credentialId, "", null, null, hashes, hash, SignatureFormat.Raw, Timestamp: false, algorithm.RsaPkcs1, EcdsaP1363: false)
            {
                AuthorizationId = authorizationId,
                Sad = sad,
                Ecdsa = algorithm.Ec,
            },
            http.RequestAborted);
        return new JsonObject { ["signatures"] = Array([.. result.Signatures.Select(Convert.ToBase64String)]) };
    }

    private static async Task<JsonObject?> TimestampAsync(HttpContext http, CscTimestampRequest r, TsaResponder tsa)
    {
        var digest = Base64(Required(r.Hash, "hash"), "hash");
        var hash = CscAlgorithms.Hash(Required(r.HashAlgorithmOid ?? r.HashAlgo, "hashAlgo")) ?? throw new DTrustException(
            ErrorKind.InvalidArgument, "hashAlgo must be the OID of SHA-256, SHA-384 or SHA-512");
        byte[]? nonce = null;
        if (!string.IsNullOrEmpty(r.Nonce))
        {
            nonce = r.Nonce.Length <= 64 && r.Nonce.All(char.IsAsciiHexDigit) && r.Nonce.Length % 2 == 0
                ? Convert.FromHexString(r.Nonce)
                : throw new DTrustException(ErrorKind.InvalidArgument, "nonce must be a hex string of at most 32 bytes");
        }

        Rfc3161TimestampRequest request;
        try
        {
            request = Rfc3161TimestampRequest.CreateFromHash(digest, hash, nonce: nonce, requestSignerCertificates: true);
        }
        catch (ArgumentException)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "the hash's length does not fit hashAlgo");
        }

        var result = await tsa.RespondAsync(request.Encode(), http.RequestAborted);
        return result.IsGranted
            ? new JsonObject { ["timestamp"] = Convert.ToBase64String(result.Token.Span) }
            : throw new DTrustException(ErrorKind.Unavailable, "the TSA refused: " + (result.StatusText ?? result.FailureInfo.ToString()));
    }

    // ---- plumbing ----

    /// <summary>
    /// Reads the body (bounded, JSON of the method's shape; none is an empty request), runs the method, writes its
    /// answer (none → 204) or the CSC error body, and counts the call by method and status.
    /// </summary>
    private static async Task Handle<TRequest>(HttpContext http, string method, JsonTypeInfo<TRequest> type, Func<TRequest, Task<JsonObject?>> run)
        where TRequest : class, new()
    {
        var status = StatusCodes.Status200OK;
        var start = Stopwatch.GetTimestamp();
        try
        {
            var request = await ReadAsync(http, type);
            var answer = await run(request);
            if (answer is null)
            {
                status = StatusCodes.Status204NoContent;
                http.Response.StatusCode = status;
                http.Response.Headers.CacheControl = "no-store";
                return;
            }

            await WriteJsonAsync(http, status, answer, http.RequestAborted);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            status = 499;
        }
        catch (Exception e)
        {
            status = await FailAsync(http, method, e);
        }
        finally
        {
            ServerMetrics.CountCsc(method, status, start);
        }
    }

    /// <summary>
    /// A failure as the CSC error body: the same classification as gRPC's (a dependency down is UNAVAILABLE, fail
    /// closed, never a signature); anything unexpected is logged here and answered as an internal error.
    /// </summary>
    private static async Task<int> FailAsync(HttpContext http, string method, Exception e)
    {
        if (Errors.Failures.Classify(e) is { } known)
        {
            return await CscErrors.WriteAsync(http, known.Kind, known.Message);
        }

        Unexpected(http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("DTrust.Csc"), method, e);
        return await CscErrors.WriteAsync(http, ErrorKind.Internal, "internal error; the server logged the details");
    }

    /// <summary>A JSON answer: never cached (SADs, tokens, refusals), UTF-8, the status returned for the metrics.</summary>
    internal static async Task<int> WriteJsonAsync(HttpContext http, int status, JsonObject body, CancellationToken ct)
    {
        http.Response.StatusCode = status;
        http.Response.Headers.CacheControl = "no-store";
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(body.ToJsonString(Wire), ct);
        return status;
    }

    private static async Task<TRequest> ReadAsync<TRequest>(HttpContext http, JsonTypeInfo<TRequest> type)
        where TRequest : class, new()
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes;
        }

        using var buffer = new MemoryStream();
        try
        {
            await http.Request.Body.CopyToAsync(buffer, http.RequestAborted);
        }
        catch (BadHttpRequestException)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, $"the request body is larger than {MaxBodyBytes} bytes");
        }

        if (buffer.Length == 0)
        {
            return new TRequest();
        }

        if (http.Request.ContentType is { } contentType && !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "the request body must be application/json");
        }

        try
        {
            return JsonSerializer.Deserialize(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), type)
                ?? throw new DTrustException(ErrorKind.InvalidArgument, "the request body must be a JSON object");
        }
        catch (JsonException e)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, $"malformed request: {(e.Path is { Length: > 1 } p ? "at " + p : "not valid JSON")}");
        }
    }

    private static string Required(string? value, string name) =>
        string.IsNullOrEmpty(value) ? throw new DTrustException(ErrorKind.InvalidArgument, $"{name} is required") : value;

    private static List<ReadOnlyMemory<byte>> Hashes(string?[]? values)
    {
        if (values is not { Length: > 0 })
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "hashes (v1: hash) are required: every SAD here names the hashes it signs");
        }

        // The policy caps the list; stop decoding long before a huge array costs anything.
        if (values.Length > 10_000)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, "too many hashes");
        }

        return [.. values.Select(v => (ReadOnlyMemory<byte>)Base64(v, "hash"))];
    }

    private static HashAlgorithmName HashAlgorithm(string? oid, List<ReadOnlyMemory<byte>> hashes) =>
        oid is not null
            ? CscAlgorithms.Hash(oid) ?? throw new DTrustException(ErrorKind.InvalidArgument, $"hash algorithm {oid} is not SHA-256, SHA-384 or SHA-512")
            : CscAlgorithms.HashByLength(hashes[0].Length)
                ?? throw new DTrustException(ErrorKind.InvalidArgument, "hashAlgorithmOID is required");

    /// <summary>Base64 as CSC sends it, or base64url (query strings and some clients), padded or not.</summary>
    internal static byte[] Base64(string? value, string name)
    {
        if (string.IsNullOrEmpty(value))
        {
            throw new DTrustException(ErrorKind.InvalidArgument, $"{name} must be a base64 string");
        }

        var s = value.Trim().Replace(' ', '+').Replace('-', '+').Replace('_', '/');
        s = s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '=');
        try
        {
            return Convert.FromBase64String(s);
        }
        catch (FormatException)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, $"{name} is not base64");
        }
    }

    [LoggerMessage(EventId = 1201, Level = LogLevel.Error, Message = "Unexpected error in CSC {Method}")]
    private static partial void Unexpected(ILogger logger, string method, Exception exception);

    private static JsonArray Array(params string[] values) => [.. values.Select(v => (JsonNode?)JsonValue.Create(v))];
}

/// <summary>The CSC column of the error table: CSC reports refused authorization data as 400 <c>invalid_request</c>.</summary>
internal static class CscErrors
{
    public static async Task<int> WriteAsync(HttpContext http, ErrorKind kind, string message)
    {
        if (http.Response.HasStarted)
        {
            return http.Response.StatusCode;
        }

        var status = kind == ErrorKind.PermissionDenied ? StatusCodes.Status400BadRequest : HttpErrors.Status(kind);
        var error = kind is ErrorKind.PermissionDenied or ErrorKind.NotFound ? "invalid_request" : HttpErrors.Error(kind);
        return await CscEndpoints.WriteJsonAsync(
            http, status, new JsonObject { ["error"] = error, ["error_description"] = message }, CancellationToken.None);
    }
}

/// <summary>
/// The SAD as CSC carries it: one opaque string for our authorization id and its SAD, so that signHash, which names
/// only the credential and the SAD, finds the grant. Neither part contains a dot.
/// </summary>
internal static class CscSad
{
    public static string Encode(string authorizationId, string sad) => authorizationId + "." + sad;

    public static (string AuthorizationId, string Sad)? Decode(string value)
    {
        var dot = value.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && dot < value.Length - 1 && value.Length <= 300 ? (value[..dot], value[(dot + 1)..]) : null;
    }
}
