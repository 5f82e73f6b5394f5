using DTrust.SigningServer.Factors;
using DTrust.Store;

namespace DTrust.SigningServer.Signing;

/// <summary>
/// Messages to the holder's phone that carry no code: the approval link, and the notice that a passkey was added or
/// removed (so that a device paired by someone else does not go unnoticed). They count against the same hourly
/// send limits as codes: each is an SMS someone pays for and could be used to bomb a phone.
/// </summary>
public sealed class HolderNotifications(IOtpSender sender, SmsSendLimits sends)
{
    /// <summary>Sends the one-time approval link; UNAVAILABLE when the SMS cannot be sent.</summary>
    public async Task SendApprovalLinkAsync(CallerRecord partner, PendingApproval approval, UserRecord holder, Uri link, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(partner);
        ArgumentNullException.ThrowIfNull(approval);
        ArgumentNullException.ThrowIfNull(holder);
        await sends.RequireSignatureSendAsync(partner.Id, holder.Phone);
        var text = $"DTrust: {partner.Name} asks you to sign {approval.Documents.Count} document(s)" +
            (string.IsNullOrWhiteSpace(approval.Description) ? "" : $" ({approval.Description})") +
            $". Review and approve: {link}";
        await SendAsync(new OtpMessage(approval.Id, approval.CredentialId, holder.Phone, "", text), ct);
    }

    /// <summary>Tells the holder that a passkey was added to or removed from their account.</summary>
    public async Task AnnounceDeviceAsync(UserRecord holder, string change, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(holder);
        if (!await sends.CountPhoneAsync(holder.Phone))
        {
            return;
        }

        await SendAsync(new OtpMessage("passkey", "", holder.Phone, "",
            $"DTrust: a passkey was {change} for your signing account. If this was not you, call your provider now."), ct);
    }

    private async Task SendAsync(OtpMessage message, CancellationToken ct)
    {
        try
        {
            await sender.SendAsync(message, ct);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            throw new DTrustException(ErrorKind.Unavailable, "the message to the holder's phone could not be sent; retry", e);
        }
    }
}
