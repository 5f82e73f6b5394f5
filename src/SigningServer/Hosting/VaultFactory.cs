using DTrust.KeyVault;
using DTrust.Pki;

namespace DTrust.SigningServer.Hosting;

/// <summary>Turns the host's configuration into the vault's: one token per key domain, PINs read from files.</summary>
internal static class VaultFactory
{
    /// <summary>The key domains this host signs in; each must map to a token of its own.</summary>
    public static readonly string[] DomainNames = ["simple", "advanced", "qualified", "seal-qualified", "seal-advanced", "tsa", DevPki.AuditDomain];

    /// <summary>The dev root CA's domain: only development opens it, in production the root is offline.</summary>
    public const string RootDomain = DevPki.RootDomain;

    public static HsmVault Open(ServerOptions options, ILoggerFactory loggers)
    {
        var vaultOptions = new KeyVaultOptions { ModulePath = options.Hsm.ModulePath };
        foreach (var name in options.Development ? [.. DomainNames, RootDomain] : DomainNames)
        {
            var binding = options.Hsm.Domains.GetValueOrDefault(name) ?? new DomainBinding();
            var label = binding.TokenLabel ?? name;
            vaultOptions.Domains.Add(new KeyDomainOptions
            {
                Name = name,
                TokenLabel = label,
                TokenSerial = binding.TokenSerial,
                PinFile = PinFile(options, name),
                Sessions = options.Hsm.Sessions,
            });
        }

        var vault = HsmVault.Open(vaultOptions, loggers);
        foreach (var domain in vault.Domains)
        {
            domain.EnsureMasterKey();
        }

        return vault;
    }

    /// <summary>The PIN file of a domain's token: configured, or <c>{state}/hsm/pins/{label}.pin</c>.</summary>
    public static string PinFile(ServerOptions options, string domain)
    {
        var binding = options.Hsm.Domains.GetValueOrDefault(domain) ?? new DomainBinding();
        return binding.PinFile ?? Path.Combine(options.StateDirectory, "hsm", "pins", (binding.TokenLabel ?? domain) + ".pin");
    }
}
