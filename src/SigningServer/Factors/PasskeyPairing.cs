using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using DTrust.SigningServer.Credentials;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Signing;
using DTrust.Store;
using Fido2NetLib;
using Fido2NetLib.Objects;
using StackExchange.Redis;

namespace DTrust.SigningServer.Factors;

/// <summary>
/// Pairing a holder's passkey: an operator (never a partner) issues a one-time, short-lived link; on our origin the
/// holder's browser makes a WebAuthn credential with user verification required; the server keeps its public key.
/// Whoever opens the link adds a second factor, so every new device is audited and announced to the holder's phone,
/// and the holder (with a link) or an operator can list and remove devices.
/// </summary>
public sealed class PasskeyPairing(
    IConnectionMultiplexer redis,
    IPasskeyStore passkeys,
    ICredentialStore store,
    PasskeyRelyingParty rp,
    HolderNotifications notifications,
    AuditTrail audit,
    SigningOptions options,
    ServerOptions server,
    TimeProvider time)
{
    private sealed record Link(string Tenant, string UserId);

    /// <summary>A pairing link for a holder of the operator's tenant.</summary>
    public async Task<(Uri Url, DateTimeOffset ExpiresAt)> CreateLinkAsync(CallerRecord by, string userId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(by);
        _ = await HolderAsync(by.Tenant, userId, ct);
        var token = ApproveLinks.NewToken();
        var lifetime = TimeSpan.FromSeconds(options.PairingSeconds);
        await redis.GetDatabase().StringSetAsync(LinkKey(token), JsonSerializer.Serialize(new Link(by.Tenant, userId)), lifetime);
        await audit.RecordAsync(by.Id, by.Tenant, null, "holder.pairing_link", details: new { user = userId, seconds = options.PairingSeconds }, ct: ct);
        return (new Uri(server.Listen.HolderOriginUri, "/pair/" + token), time.GetUtcNow() + lifetime);
    }

    /// <summary>The holder a link pairs for and their devices; LinkInvalid when the link is unknown or used.</summary>
    public async Task<(UserRecord Holder, IReadOnlyList<PasskeyRecord> Devices)> OpenAsync(string token, CancellationToken ct)
    {
        var link = await LinkAsync(token);
        var holder = await HolderAsync(link.Tenant, link.UserId, ct);
        return (holder, await passkeys.ListPasskeysAsync(link.Tenant, link.UserId, ct));
    }

    /// <summary>WebAuthn creation options for the page (user verification required), kept once for the answer.</summary>
    public async Task<string> OptionsAsync(string token, CancellationToken ct)
    {
        var link = await LinkAsync(token);
        var holder = await HolderAsync(link.Tenant, link.UserId, ct);
        var existing = await passkeys.ListPasskeysAsync(link.Tenant, link.UserId, ct);
        var created = rp.Fido.RequestNewCredential(new RequestNewCredentialParams
        {
            User = new Fido2User
            {
                Id = SHA256.HashData(Encoding.UTF8.GetBytes(link.Tenant + "\n" + link.UserId)),
                Name = link.UserId,
                DisplayName = holder.GivenName + " " + holder.Surname,
            },
            ExcludeCredentials = [.. existing.Select(d => new PublicKeyCredentialDescriptor(PasskeyFactor.FromBase64Url(d.Id)))],
            AuthenticatorSelection = new AuthenticatorSelection
            {
                UserVerification = UserVerificationRequirement.Required,
                ResidentKey = ResidentKeyRequirement.Preferred,
            },
            AttestationPreference = AttestationConveyancePreference.None,
        });
        var json = created.ToJson();
        await redis.GetDatabase().StringSetAsync(OptionsKey(token), json, TimeSpan.FromSeconds(options.PairingSeconds));
        return json;
    }

    /// <summary>Checks the browser's attestation, stores the passkey, spends the link, audits and announces it.</summary>
    public async Task<PasskeyRecord> FinishAsync(string token, string attestationJson, string? name, CancellationToken ct)
    {
        var link = await LinkAsync(token);
        var holder = await HolderAsync(link.Tenant, link.UserId, ct);
        var stored = (string?)await redis.GetDatabase().StringGetDeleteAsync(OptionsKey(token))
            ?? throw new HolderRefusalException(HolderRefusal.WrongAnswer, "start the pairing again");
        AuthenticatorAttestationRawResponse? attestation;
        try
        {
            attestation = JsonSerializer.Deserialize<AuthenticatorAttestationRawResponse>(attestationJson);
        }
        catch (JsonException)
        {
            attestation = null;
        }

        if (attestation is null)
        {
            throw new HolderRefusalException(HolderRefusal.WrongAnswer, "the browser's answer is not a WebAuthn attestation");
        }

        RegisteredPublicKeyCredential registered;
        try
        {
            registered = await rp.Fido.MakeNewCredentialAsync(new MakeNewCredentialParams
            {
                AttestationResponse = attestation,
                OriginalOptions = CredentialCreateOptions.FromJson(stored),
                IsCredentialIdUniqueToUserCallback = (_, _) => Task.FromResult(true),
            }, ct);
        }
        catch (Fido2VerificationException e)
        {
            throw new HolderRefusalException(HolderRefusal.WrongAnswer, "the passkey could not be verified: " + e.Message);
        }

        var passkey = new PasskeyRecord
        {
            Id = PasskeyFactor.Base64Url(registered.Id),
            Tenant = link.Tenant,
            UserId = link.UserId,
            PublicKey = registered.PublicKey,
            SignCount = registered.SignCount,
            BackupEligible = registered.IsBackupEligible,
            Aaguid = registered.AaGuid.ToString(),
            Name = string.IsNullOrWhiteSpace(name) ? "Passkey" : name.Trim()[..Math.Min(name.Trim().Length, 60)],
            CreatedAt = time.GetUtcNow(),
        };
        if (!await passkeys.InsertPasskeyAsync(passkey, ct))
        {
            throw new HolderRefusalException(HolderRefusal.WrongAnswer, "this passkey is already paired");
        }

        await redis.GetDatabase().KeyDeleteAsync(LinkKey(token));
        await audit.RecordAsync(
            "holder:" + link.UserId, link.Tenant, null, "holder.passkey_added",
            details: new { user = link.UserId, passkey = passkey.Id, public_key = Convert.ToBase64String(passkey.PublicKey), passkey.BackupEligible, passkey.Aaguid },
            ct: CancellationToken.None);
        await notifications.AnnounceDeviceAsync(holder, "added", CancellationToken.None);
        return passkey;
    }

    /// <summary>The holder removes one of their devices (with a pairing link).</summary>
    public async Task RemoveByHolderAsync(string token, string passkeyId, CancellationToken ct)
    {
        var link = await LinkAsync(token);
        await RemoveAsync("holder:" + link.UserId, link.Tenant, link.UserId, passkeyId, ct);
    }

    public async Task<IReadOnlyList<PasskeyRecord>> ListAsync(CallerRecord by, string userId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(by);
        _ = await HolderAsync(by.Tenant, userId, ct);
        return await passkeys.ListPasskeysAsync(by.Tenant, userId, ct);
    }

    public async Task<IReadOnlyList<PasskeyRecord>> RemoveByOperatorAsync(CallerRecord by, string userId, string passkeyId, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(by);
        await RemoveAsync(by.Id, by.Tenant, userId, passkeyId, ct);
        return await passkeys.ListPasskeysAsync(by.Tenant, userId, ct);
    }

    private async Task RemoveAsync(string actor, string tenant, string userId, string passkeyId, CancellationToken ct)
    {
        var holder = await HolderAsync(tenant, userId, ct);
        if (!await passkeys.DeletePasskeyAsync(tenant, userId, passkeyId, ct))
        {
            throw new DTrustException(ErrorKind.NotFound, "passkey not found");
        }

        await audit.RecordAsync(actor, tenant, null, "holder.passkey_removed", details: new { user = userId, passkey = passkeyId }, ct: CancellationToken.None);
        await notifications.AnnounceDeviceAsync(holder, "removed", CancellationToken.None);
    }

    private async Task<Link> LinkAsync(string token)
    {
        var value = string.IsNullOrEmpty(token) || token.Length > 100 ? null : (string?)await redis.GetDatabase().StringGetAsync(LinkKey(token));
        return (value is null ? null : JsonSerializer.Deserialize<Link>(value))
            ?? throw new HolderRefusalException(HolderRefusal.LinkInvalid, "this pairing link is not valid, was used or has expired");
    }

    private async Task<UserRecord> HolderAsync(string tenant, string userId, CancellationToken ct) =>
        string.IsNullOrEmpty(userId)
            ? throw new DTrustException(ErrorKind.InvalidArgument, "user_id is required")
            : await store.GetUserAsync(tenant, userId, ct) ?? throw new DTrustException(ErrorKind.NotFound, "holder not found");

    private static string LinkKey(string token) => "dtrust:pairing:" + Convert.ToHexString(SHA256.HashData(Encoding.ASCII.GetBytes(token)));

    private static string OptionsKey(string token) => "dtrust:pairing-options:" + Convert.ToHexString(SHA256.HashData(Encoding.ASCII.GetBytes(token)));
}
