using Microsoft.Extensions.DependencyInjection;

namespace DTrust.Pki;

/// <summary>Registration of the PKI services for the host.</summary>
public static class PkiServiceCollectionExtensions
{
    /// <summary>
    /// Issuing CAs (made or checked when first resolved: resolve <see cref="IssuingCas"/> at start to fail fast),
    /// <see cref="CertificateIssuer"/>, <see cref="CrlPublisher"/> with its refresh timer, and
    /// <see cref="OcspResponder"/>. Needs <see cref="DevPki"/>'s dependencies (vault, TimeProvider) and the
    /// store's <see cref="IRevocationSource"/> and <see cref="ICrlStore"/>, registered by the host.
    /// </summary>
    public static IServiceCollection AddPki(this IServiceCollection services, PkiOptions options, PkiSetup setup)
    {
        PkiOids.RequireShortArc(options.PolicyArc, "DTrust:Pki:PolicyArc");
        services.AddSingleton(options);
        services.AddSingleton(setup);
        if (!services.Any(d => d.ServiceType == typeof(DevPki)))
        {
            services.AddSingleton<DevPki>();
        }

        services.AddSingleton(sp => sp.GetRequiredService<DevPki>().EnsureIssuingCas(options));
        services.AddSingleton<CertificateIssuer>();
        services.AddSingleton<CrlPublisher>();
        services.AddSingleton<RootCrl>();
        services.AddSingleton<OcspResponder>();
        services.AddHostedService<CrlRefreshService>();
        return services;
    }
}
