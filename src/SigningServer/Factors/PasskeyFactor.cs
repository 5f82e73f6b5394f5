using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DTrust.SigningServer.Signing;
using DTrust.Store;
using Fido2NetLib;
using Fido2NetLib.Objects;
using StackExchange.Redis;

namespace DTrust.SigningServer.Factors;

/// <summary>
/// A paired passkey (WebAuthn, user verification required) as the second factor of a holder approval. The assertion
/// challenge is SHA-256 over a domain label, a fresh nonce and the canonical transaction the holder is shown, so the
/// signature of the device is a statement over exactly those documents. The request options live once in Redis and
/// are taken with GETDEL: an assertion answers one request only. Beyond what Fido2 checks (type, challenge, origin,
/// RP ID hash, user presence and verification, signature, counter), this checks that the call was not made from a
/// cross-origin frame (<c>crossOrigin</c>, <c>topOrigin</c>) and, for QUALIFIED when configured, that the key cannot
/// be synced to other devices (backup eligibility).
/// </summary>
public sealed class PasskeyFactor(
    IConnectionMultiplexer redis, IPasskeyStore passkeys, OneTimeCodes codes, PasskeyRelyingParty rp, SigningOptions options) : ISecondFactor
{
    public const string FactorName = "passkey";

    /// <summary>The label that makes an approval challenge mean nothing in any other protocol.</summary>
    public static readonly byte[] ChallengeLabel = "DTrust passkey approval v1\n"u8.ToArray();

    public string Name => FactorName;

    public string ResponseName => "passkey";

    public ValueTask<bool> AvailableAsync(CredentialRecord credential, CancellationToken ct) =>
        AvailableCoreAsync(credential, ct);

    public async Task<IssuedFactor> IssueAsync(FactorRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Transaction is null)
        {
            throw new FactorRefusedException(
                "passkey outside holder approval", ErrorKind.FailedPrecondition, "a passkey approves only on the holder's page");
        }

        var devices = await UsableAsync(request.Credential, ct);
        if (devices.Count == 0)
        {
            throw new FactorRefusedException(
                "no usable passkey", ErrorKind.FailedPrecondition, "the holder has no passkey paired that this credential accepts");
        }

        var nonce = RandomNumberGenerator.GetBytes(32);
        var assertion = rp.Fido.GetAssertionOptions(new GetAssertionOptionsParams
        {
            AllowedCredentials = [.. devices.Select(d => new PublicKeyCredentialDescriptor(FromBase64Url(d.Id)))],
            UserVerification = UserVerificationRequirement.Required,
        });
        assertion.Challenge = Challenge(nonce, request.Transaction);
        var json = assertion.ToJson();
        var stored = JsonSerializer.Serialize(new StoredRequest(json, Convert.ToBase64String(nonce)));
        await redis.GetDatabase().StringSetAsync(RequestKey(request.Credential.Id, request.ChallengeId), stored, request.Lifetime);
        var value = codes.Mac(request.ChallengeId, "passkey:" + Convert.ToBase64String(assertion.Challenge));
        return new IssuedFactor(value, "passkey assertion over the canonical transaction", _ => Task.CompletedTask, json);
    }

    public async ValueTask<FactorProof> ProofAsync(FactorResponse response, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(response);

        // Taken once, whatever the outcome: a second answer to the same request is never checked.
        var stored = (string?)await redis.GetDatabase().StringGetDeleteAsync(RequestKey(response.Credential.Id, response.ChallengeId));
        var request = stored is null ? null : JsonSerializer.Deserialize<StoredRequest>(stored);
        if (request is null)
        {
            return Invalid;
        }

        var original = AssertionOptions.FromJson(request.OptionsJson);
        AuthenticatorAssertionRawResponse? assertion;
        try
        {
            assertion = JsonSerializer.Deserialize<AuthenticatorAssertionRawResponse>(response.Response);
        }
        catch (JsonException)
        {
            return Invalid;
        }

        if (assertion?.Response?.ClientDataJson is null || !SameOriginCall(assertion.Response.ClientDataJson))
        {
            return Invalid;
        }

        var devices = await passkeys.ListPasskeysAsync(response.Credential.Tenant, response.Credential.UserId, ct);
        var device = devices.FirstOrDefault(d => d.Id == Base64Url(assertion.RawId ?? []));
        if (device is null)
        {
            // Another holder's device, or one removed since the request was made.
            return Invalid;
        }

        if (device.BackupEligible && response.Credential.Level == CredentialLevel.Qualified && options.RefuseSyncedPasskeysForQualified)
        {
            return Invalid;
        }

        VerifyAssertionResult result;
        try
        {
            result = await rp.Fido.MakeAssertionAsync(new MakeAssertionParams
            {
                AssertionResponse = assertion,
                OriginalOptions = original,
                StoredPublicKey = device.PublicKey,
                StoredSignatureCounter = device.SignCount,
                IsUserHandleOwnerOfCredentialIdCallback = (_, _) => Task.FromResult(true),
            }, ct);
        }
        catch (Fido2VerificationException)
        {
            return Invalid;
        }

        if (!await passkeys.AdvancePasskeyCounterAsync(device.Id, result.SignCount, ct) && result.SignCount != 0)
        {
            // Another node accepted an assertion with this counter first, or the authenticator was cloned.
            return Invalid;
        }

        var evidence = new
        {
            passkey = device.Id,
            public_key = Convert.ToBase64String(device.PublicKey),
            rp_id = rp.RpId,
            origin = rp.Origin,
            nonce = request.Nonce,
            challenge = Convert.ToBase64String(original.Challenge),
            authenticator_data = Convert.ToBase64String(assertion.Response.AuthenticatorData),
            client_data_json = Convert.ToBase64String(assertion.Response.ClientDataJson),
            signature = Convert.ToBase64String(assertion.Response.Signature),
            backup_eligible = device.BackupEligible,
        };
        return new FactorProof(codes.Mac(response.ChallengeId, "passkey:" + Convert.ToBase64String(original.Challenge)), evidence);
    }

    /// <summary>SHA-256(label ‖ nonce ‖ transaction): what the device signs over (with the authenticator data).</summary>
    public static byte[] Challenge(byte[] nonce, byte[] transaction)
    {
        ArgumentNullException.ThrowIfNull(nonce);
        ArgumentNullException.ThrowIfNull(transaction);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(ChallengeLabel);
        sha.AppendData(nonce);
        sha.AppendData(transaction);
        return sha.GetHashAndReset();
    }

    public static string Base64Url(ReadOnlySpan<byte> bytes) => ApproveLinks.Base64Url(bytes);

    public static byte[] FromBase64Url(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + ((4 - (s.Length % 4)) % 4), '='));
    }

    /// <summary>
    /// A page framed by another origin could ask for an assertion (with permissions policy); the browser says so in
    /// the client data, which Fido2 does not read: <c>crossOrigin</c> must be false or absent, <c>topOrigin</c> absent.
    /// </summary>
    private static bool SameOriginCall(byte[] clientDataJson)
    {
        try
        {
            using var doc = JsonDocument.Parse(clientDataJson);
            var root = doc.RootElement;
            var cross = root.TryGetProperty("crossOrigin", out var c) && c.ValueKind == JsonValueKind.True;
            return !cross && !root.TryGetProperty("topOrigin", out _);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private async ValueTask<bool> AvailableCoreAsync(CredentialRecord credential, CancellationToken ct) =>
        (await UsableAsync(credential, ct)).Count > 0;

    /// <summary>The holder's devices the credential's level accepts (QUALIFIED may refuse synced passkeys).</summary>
    private async Task<IReadOnlyList<PasskeyRecord>> UsableAsync(CredentialRecord credential, CancellationToken ct) =>
        [.. (await passkeys.ListPasskeysAsync(credential.Tenant, credential.UserId, ct))
            .Where(d => !(d.BackupEligible && credential.Level == CredentialLevel.Qualified && options.RefuseSyncedPasskeysForQualified))];

    // Never equal to an issued value: a MAC is hex, this is not.
    private static readonly FactorProof Invalid = new("invalid");

    private static string RequestKey(string credentialId, string challengeId) => $"dtrust:{{{credentialId}}}:passkey-request:{challengeId}";

    private sealed record StoredRequest(string OptionsJson, string Nonce);
}

/// <summary>The relying party (our holder origin) as Fido2 sees it: RP ID = the origin's host, one expected origin.</summary>
public sealed class PasskeyRelyingParty
{
    public PasskeyRelyingParty(Uri origin)
    {
        ArgumentNullException.ThrowIfNull(origin);
        Origin = origin.GetLeftPart(UriPartial.Authority);
        RpId = origin.Host;
        Fido = new Fido2(new Fido2Configuration
        {
            RPID = RpId,
            RPName = "DTrust",
            Origins = new HashSet<string>(StringComparer.Ordinal) { Origin },
        });
    }

    public string Origin { get; }

    public string RpId { get; }

    public IFido2 Fido { get; }

    /// <summary>UTF-8 of <paramref name="text"/>, for user handles.</summary>
    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
