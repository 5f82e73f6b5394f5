using DTrust.SigningServer.Factors;
using DTrust.SigningServer.Hosting;
using Microsoft.Extensions.Http.Resilience;

namespace DTrust.SigningServer.Signing;

public static class SigningRegistration
{
    /// <summary>
    /// The signing flow with its challenge store, its second factors (the SMS code), the one-time code secret and sender. The outbox sender exists only in
    /// development: a production server configured with it refuses to start.
    /// </summary>
    public static IServiceCollection AddSigning(this IServiceCollection services, SigningOptions options, ServerOptions server)
    {
        services.AddSingleton(options);
        services.AddSingleton<RedisReplication>();
        services.AddSingleton<ChallengeStore>();
        services.AddSingleton<ApprovalStore>();
        services.AddSingleton<HolderNotifications>();
        services.AddSingleton(new PasskeyRelyingParty(server.Listen.HolderOriginUri));
        services.AddSingleton<PasskeyPairing>();
        services.AddSingleton<SmsSendLimits>();

        // The second factors the policy may ask for, by name.
        services.AddSingleton<ISecondFactor, SmsCodeFactor>();
        services.AddSingleton<ISecondFactor, PasskeyFactor>();
        services.AddSingleton(_ => OneTimeCodes.FromFile(
            options.OtpSecretFile ?? Path.Combine(server.StateDirectory, "keys", "otp-hmac.key"), createIfMissing: server.Development));
        switch ((options.OtpSender ?? (server.Development ? "outbox" : "webhook")).ToUpperInvariant())
        {
            case "OUTBOX" when server.Development:
                services.AddSingleton<IOtpSender>(_ => new OutboxOtpSender(Path.Combine(server.StateDirectory, "otp-outbox.jsonl")));
                break;
            case "OUTBOX":
                throw new InvalidOperationException(
                    "the outbox one-time code sender is for development only; configure DTrust:Signing:OtpSender=webhook");
            case "WEBHOOK":
                if (!Uri.TryCreate(options.Webhook.Url, UriKind.Absolute, out var url) || url.Scheme != Uri.UriSchemeHttps && !server.Development)
                {
                    throw new InvalidOperationException("DTrust:Signing:Webhook:Url must be an https URL of the SMS gateway");
                }

                var webhook = services.AddHttpClient<IOtpSender, WebhookOtpSender>();
                if (!string.IsNullOrEmpty(options.Webhook.CaFile))
                {
                    webhook.ConfigurePrimaryHttpMessageHandler(() => WebhookOtpSender.HandlerTrusting(options.Webhook.CaFile));
                }

                webhook.AddStandardResilienceHandler(r =>
                    {
                        r.AttemptTimeout.Timeout = TimeSpan.FromSeconds(options.Webhook.TimeoutSeconds);
                        r.TotalRequestTimeout.Timeout = TimeSpan.FromSeconds(options.Webhook.TimeoutSeconds * 3);
                        r.Retry.MaxRetryAttempts = 2;
                    });
                break;
            default:
                throw new InvalidOperationException($"unknown one-time code sender '{options.OtpSender}' (outbox or webhook)");
        }

        services.AddSingleton<SignerCache>();
        services.AddSingleton<SigningFlow>();
        return services;
    }
}
