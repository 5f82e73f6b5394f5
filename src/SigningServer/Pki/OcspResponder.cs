using DTrust.SigningServer.Pki.Internal;
using DTrust.SigningServer.Store;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Ocsp;
using BcCertificate = Org.BouncyCastle.X509.X509Certificate;

namespace DTrust.SigningServer.Pki;

/// <summary>
/// RFC 6960 responder for the issuing CAs. Every answer is read live from the store and signed in the HSM by the
/// responder key of the CA the request names (a delegated responder, RFC 6960 §4.2.2.2). BouncyCastle parses
/// the request and encodes the response; it never holds a key.
/// </summary>
public sealed class OcspResponder(IssuingCas cas, ICredentialStore store, PkiOptions options, TimeProvider time, ILogger<OcspResponder> log)
{
    /// <summary>An OCSPRequest of a few certificates is a few hundred bytes; anything far larger is not one.</summary>
    public const int MaxRequestBytes = 16 * 1024;

    /// <summary>Enough for a client that asks about a whole chain, small enough that one request stays cheap.</summary>
    public const int MaxCertificatesPerRequest = 16;

    public const string RequestMediaType = "application/ocsp-request";
    public const string ResponseMediaType = "application/ocsp-response";

    /// <summary>
    /// Answers a DER OCSPRequest with a DER OCSPResponse. Never throws for bad input: a request that does not
    /// parse is answered malformedRequest, a failure inside (store, HSM) internalError.
    /// </summary>
    public async Task<byte[]> RespondAsync(ReadOnlyMemory<byte> request, CancellationToken ct)
    {
        if (!TryParse(request, out var parsed, out var items))
        {
            return Status(OcspRespStatus.MalformedRequest);
        }

        try
        {
            return await SignedResponseAsync(parsed, items, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            PkiLog.OcspFailed(log, e);
            return Status(OcspRespStatus.InternalError);
        }
    }

    private async Task<byte[]> SignedResponseAsync(OcspReq request, Req[] items, CancellationToken ct)
    {
        // One response has one signer. It is the responder of the first CA a request names; a CertID of another
        // CA in the same request is answered unknown, because this responder is not authorised for that CA.
        var ids = items.Select(i => i.GetCertID()).ToArray();
        var issuers = ids.Select(FindIssuer).ToArray();
        if (issuers.FirstOrDefault(i => i is not null) is not { } responder)
        {
            // RFC 6960 §2.3: a request naming none of our CAs is answered unauthorized, unsigned. Signing it would
            // let anyone spend the HSM's sessions on answers about certificates we never issued.
            PkiLog.OcspUnauthorized(log);
            return Status(OcspRespStatus.Unauthorized);
        }

        var now = DateTimeOffset.FromUnixTimeSeconds(time.GetUtcNow().ToUnixTimeSeconds());
        var nextUpdate = now.AddMinutes(options.OcspValidityMinutes);
        var generator = new BasicOcspRespGenerator(responder.BcOcspCertificate.GetPublicKey());
        for (var i = 0; i < ids.Length; i++)
        {
            var status = issuers[i] == responder ? await StatusAsync(responder.Level, ids[i], ct) : new UnknownStatus();
            generator.AddResponse(ids[i], status, now.UtcDateTime, nextUpdate.UtcDateTime, null);
        }

        if (request.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNonce) is { } nonce)
        {
            var extensions = new X509ExtensionsGenerator();
            extensions.AddExtension(OcspObjectIdentifiers.PkixOcspNonce, false, nonce.GetOctets());
            generator.SetResponseExtensions(extensions.Generate());
        }

        var basic = await SignAsync(generator, responder, now, ct);
        return new OCSPRespGenerator().Generate(OcspRespStatus.Successful, basic).GetEncoded();
    }

    /// <summary>
    /// BouncyCastle's generator signs synchronously, which would hold a request thread in the HSM pool's
    /// synchronous wait (the same pool credential signing leases from). So it is asked to sign with a placeholder,
    /// and the real signature over the same ResponseData is awaited from the pool, cancellable, and put in its place.
    /// </summary>
    private static async Task<BasicOcspResp> SignAsync(
        BasicOcspRespGenerator generator, IssuingCa responder, DateTimeOffset producedAt, CancellationToken ct)
    {
        var factory = new HsmSignatureFactory(responder.OcspKey);
        var draft = generator.Generate(new PlaceholderSignatureFactory(factory.AlgorithmDetails), [responder.BcOcspCertificate], producedAt.UtcDateTime);
        var structure = BasicOcspResponse.GetInstance(Asn1Object.FromByteArray(draft.GetEncoded()));
        var signature = await factory.SignAsync(structure.TbsResponseData.GetDerEncoded(), ct);
        return new BasicOcspResp(new BasicOcspResponse(
            structure.TbsResponseData, structure.SignatureAlgorithm, new DerBitString(signature), structure.Certs));
    }

    /// <summary>The issuing CA whose name and key hash the CertID carries, in its own hash algorithm; null if none.</summary>
    private IssuingCa? FindIssuer(CertificateID id)
    {
        foreach (var ca in cas.All)
        {
            try
            {
                if (id.MatchesIssuer(ca.BcCertificate))
                {
                    return ca;
                }
            }
            catch (OcspException)
            {
                // A hash algorithm BouncyCastle does not know cannot name any of our CAs.
                return null;
            }
        }

        return null;
    }

    /// <summary>
    /// Revoked from the moment revocation starts (REVOCATION_IN_PROGRESS), as the CRL lists it; a serial the store
    /// does not know is unknown, never good.
    /// </summary>
    private async Task<CertificateStatus> StatusAsync(CredentialLevel level, CertificateID id, CancellationToken ct)
    {
        var credential = await store.FindBySerialAsync(level, CaSigning.SerialHex(id.SerialNumber.ToByteArray()), ct);
        if (credential is null)
        {
            return new UnknownStatus();
        }

        if (credential.Status is CredentialStatus.RevocationInProgress or CredentialStatus.Revoked)
        {
            var at = credential.RevokedAt ?? credential.UpdatedAt;
            var reason = credential.RevocationReason is >= 0 and <= 10 and not 7 ? credential.RevocationReason.Value : CrlReason.Unspecified;
            return new RevokedStatus(DateTimeOffset.FromUnixTimeSeconds(at.ToUnixTimeSeconds()).UtcDateTime, reason);
        }

        return CertificateStatus.Good;
    }

    private bool TryParse(ReadOnlyMemory<byte> der, out OcspReq request, out Req[] items)
    {
        request = null!;
        items = [];
        if (der.Length is 0 or > MaxRequestBytes)
        {
            PkiLog.OcspMalformed(log, "bytes", der.Length);
            return false;
        }

        try
        {
            request = new OcspReq(der.ToArray());
            items = request.GetRequestList();
            _ = items.Select(i => i.GetCertID().SerialNumber).ToArray();
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // BouncyCastle's parser reports hostile input with many exception types (IOException, ArgumentException,
            // InvalidCastException, …): whatever it is, the request is malformed.
            PkiLog.OcspUnparsable(log, e);
            return false;
        }

        if (items.Length is 0 or > MaxCertificatesPerRequest)
        {
            PkiLog.OcspMalformed(log, "certificates asked", items.Length);
            return false;
        }

        return true;
    }

    private static byte[] Status(int status) => new OCSPRespGenerator().Generate(status, null).GetEncoded();
}
