using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace DTrust.Benchmarks.Server;

/// <summary>
/// The real server (src/SigningServer's Program, unchanged) hosted in this process on Kestrel with real loopback
/// sockets (<see cref="WebApplicationFactory{TEntryPoint}.UseKestrel()"/>, .NET 10). Settings reach the host as
/// command-line configuration, which Program reads before it builds, exactly as <c>--DTrust:...=...</c> arguments.
/// </summary>
internal sealed class InProcessServer : WebApplicationFactory<global::Program>
{
    private readonly IReadOnlyDictionary<string, string> _settings;

    public InProcessServer(IReadOnlyDictionary<string, string> settings)
    {
        _settings = settings;
        UseKestrel();
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        // Program sets its content root to the binary's folder (appsettings.json beside it); the factory would
        // otherwise point it at the project folder and the host would refuse the change.
        builder.UseContentRoot(AppContext.BaseDirectory);
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
    }
}
