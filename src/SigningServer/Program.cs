using DTrust.Pki;
using DTrust.SigningServer.Api.Csc;
using DTrust.SigningServer.Api.Grpc;
using DTrust.SigningServer.Api.Holder;
using DTrust.SigningServer.Api.Http;
using DTrust.SigningServer.Callers;
using DTrust.SigningServer.Credentials;
using DTrust.SigningServer.Health;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Signing;
using DTrust.SigningServer.Timestamping;
using DTrust.Store;
using DTrust.Tsa;
using Grpc.AspNetCore.HealthChecks;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

// appsettings.json sits beside the binary; make run starts it from the repository root.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
var options = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new ServerOptions();
options.StateDirectory = Path.GetFullPath(options.StateDirectory);
var storeOptions = builder.Configuration.GetSection("DTrust:Store").Get<StoreOptions>() ?? new StoreOptions();
var signingOptions = builder.Configuration.GetSection(SigningOptions.Section).Get<SigningOptions>() ?? new SigningOptions();
SecretFiles.RequirePrivate(options, storeOptions, signingOptions);

ServerMetrics.Configure();
if (options.Development)
{
    Listeners.RefuseDevelopmentOffLoopback(options.Listen);
}

builder.WebHost.ConfigureKestrel(k => Listeners.Configure(k, options.Listen));
builder.Services.AddSingleton(options);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddGrpc(o =>
{
    // Interceptors run in this order: the timing sees the status errors were mapped to. Callers are checked
    // before any of this, by authorization (AddCallerAccess), for gRPC and REST alike.
    o.Interceptors.Add<RpcMetricsInterceptor>();
    o.Interceptors.Add<ErrorInterceptor>();
    o.EnableDetailedErrors = false;
    o.MaxReceiveMessageSize = options.Grpc.MaxReceiveBytes;
})
    .AddServiceOptions<TimestampGrpcService>(o => o.MaxReceiveMessageSize = options.Grpc.MaxTsaReceiveBytes)
    .AddServiceOptions<SigningGrpcService>(o => o.MaxReceiveMessageSize = options.Grpc.MaxSigningReceiveBytes);
builder.Services.AddSingleton<RpcMetricsInterceptor>();
builder.Services.AddGrpcReflection();
builder.Services.AddGrpcHealthChecks(o =>
{
    // Checks answer from the last background probe: an unauthenticated health call never drives HSM or Redis work.
    o.UseHealthChecksCache = true;
    o.Services.Map("", _ => true);
    o.Services.Map("dtrust.tsa.v1.TimestampService", c => c.Tags.Contains(DependencyHealthChecks.TsaTag));
}).AddDependencyChecks(VaultFactory.DomainNames);
builder.Services.Configure<HealthCheckPublisherOptions>(o =>
{
    o.Delay = TimeSpan.Zero;
    o.Period = TimeSpan.FromSeconds(Math.Max(1, options.HealthProbeSeconds));
});

builder.Services.AddSingleton(sp => VaultFactory.Open(options, sp.GetRequiredService<ILoggerFactory>()));
builder.Services.AddStore(storeOptions, options.StateDirectory);
var pkiOptions = builder.Configuration.GetSection(PkiOptions.Section).Get<PkiOptions>() ?? new PkiOptions();
builder.Services.AddPki(pkiOptions, new PkiSetup(
    Path.Combine(options.StateDirectory, "pki"), options.Development, options.Tsa.KeyAlgorithm, options.Tsa.CertificatePath, options.Tsa.ChainPath));
builder.Services.AddPublicRateLimit(pkiOptions.RateLimit);
builder.Services.AddSingleton<ICertificateAuthority, CertificateAuthority>();
builder.Services.AddSingleton<CallerDirectory>();
builder.Services.AddSingleton<CallerRateLimits>();
builder.Services.AddSingleton<CallerAdministration>();
builder.Services.AddCallerAccess();
builder.Services.AddSingleton<AuditTrail>();
builder.Services.AddSingleton<RevocationSignal>();
builder.Services.AddSingleton<CredentialRegistry>();
builder.Services.AddSingleton<SealRegistry>();
builder.Services.AddSingleton<AuditProofs>();
builder.Services.AddSingleton<ValidationDataService>();
builder.Services.AddSingleton<Confirmations>();
builder.Services.AddHostedService<RevocationPublisher>();
builder.Services.AddSigning(signingOptions, options);
builder.Services.AddSingleton(sp => sp.GetRequiredService<DevPki>().EnsureTsa());
builder.Services.AddSingleton<IClockStatus>(sp => options.Tsa.RequireSynchronizedClock
    ? new KernelClockStatus(sp.GetRequiredService<TimeProvider>())
    : AlwaysSynchronizedClock.Instance);
builder.Services.AddSingleton(sp =>
{
    var identity = sp.GetRequiredService<TsaIdentity>();
    var tsaOptions = new TsaOptions
    {
        Accuracy = TimeSpan.FromMilliseconds(options.Tsa.AccuracyMilliseconds),
        Qualified = options.Tsa.Qualified,
        TsaName = identity.Certificate.SubjectName,
        IncludeChain = identity.Chain.Count > 0,
        AcceptedPolicies = options.Tsa.AcceptedPolicies,
    };
    if (!string.IsNullOrEmpty(options.Tsa.PolicyOid))
    {
        tsaOptions.PolicyOid = options.Tsa.PolicyOid;
    }

    var scheme = TsaSchemes.For(identity.HsmKey.Algorithm, tsaOptions);
    return new TimeStampAuthority(
        tsaOptions,
        new TsaSigner(identity.Certificate, identity.Key, identity.Chain)
        {
            SignHashAsync = (digest, ct) => identity.HsmKey.SignDigestAsync(digest, scheme, ct),
        },
        sp.GetRequiredService<TimeProvider>(),
        sp.GetRequiredService<IClockStatus>(),
        sp.GetRequiredService<ILoggerFactory>().CreateLogger<TimeStampAuthority>());
});
builder.Services.AddSingleton<TsaResponder>();
builder.Services.AddSingleton(sp => new AuditCheckpoints(
    sp.GetRequiredService<IAuditLog>(),
    sp.GetRequiredService<DevPki>().EnsureAuditSigner(options.Audit.CertificatePath),
    sp.GetRequiredService<TimeStampAuthority>(),
    sp.GetRequiredService<TsaIdentity>(),
    sp.GetRequiredService<TimeProvider>(),
    options.Audit.CheckpointDirectory ?? Path.Combine(options.StateDirectory, "audit-checkpoints"),
    options.Audit.CheckpointOrigin ?? new Uri(pkiOptions.PublicBaseUrl).Authority + "/audit"));
if (options.Audit.CheckpointSeconds > 0)
{
    builder.Services.AddHostedService(sp => new AuditCheckpointTimer(
        sp.GetRequiredService<AuditCheckpoints>(), TimeSpan.FromSeconds(options.Audit.CheckpointSeconds),
        sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<AuditCheckpointTimer>>()));
}
builder.Services.AddSingleton<IConnectionMultiplexer>(_ => RedisConnection.Connect(options));

var app = builder.Build();
await app.Services.MigrateStoreAsync(CancellationToken.None);
if (args.FirstOrDefault() == AddCallerCommand.Name)
{
    return await AddCallerCommand.RunAsync(args, app.Services.GetRequiredService<ICallerStore>(), TimeProvider.System);
}

// Fail fast at start-up on a wrong PIN, a missing token or a certificate that does not match its HSM key.
app.Services.GetRequiredService<TimeStampAuthority>();
app.Services.GetRequiredService<IssuingCas>();
app.Services.GetRequiredService<IConnectionMultiplexer>();
app.Services.GetRequiredService<SigningFlow>();
app.Services.GetRequiredService<AuditCheckpoints>();
if (options.Development)
{
    await DevCallers.EnsureAsync(app.Services.GetRequiredService<ICallerStore>(), options.StateDirectory, TimeProvider.System, CancellationToken.None);
}

var grpc = new ListenerPort("grpc", Listeners.Port(options.Listen.Grpc));
var http = new ListenerPort("http", Listeners.Port(options.Listen.Http));
var admin = new ListenerPort("admin", Listeners.Port(options.Listen.Admin));
var holder = new ListenerPort("holder", Listeners.Port(options.Listen.Holder));
var csc = new ListenerPort("csc", Listeners.Port(options.Listen.Csc));
app.UseHolderHeaders(holder.Port);
app.UseRouting();
app.UseListenerSeparation(grpc.Port);
app.UseRateLimiter();
app.UseAuthorization();
app.UseDefaultGrpcDeadline(TimeSpan.FromSeconds(options.Grpc.DefaultDeadlineSeconds), TimeSpan.FromSeconds(options.Grpc.MaxDeadlineSeconds));

app.MapGrpcService<TimestampGrpcService>().OnListener(grpc);
app.MapGrpcService<CredentialGrpcService>().OnListener(grpc);
app.MapGrpcService<SigningGrpcService>().OnListener(grpc);
app.MapGrpcHealthChecksService().OnListener(grpc).AllowAnonymous();
app.MapGrpcReflectionService().OnListener(grpc).AllowAnonymous();
app.MapHttpTsa(http);
app.MapPkiEndpoints(http);
app.MapAuditEndpoints(http);
app.MapHealthChecks("/healthz", new HealthCheckOptions { ResponseWriter = HealthReportWriter.WriteAsync }).OnListener(http).AllowAnonymous();
app.MapServerMetrics(admin);
app.MapHolderPages(holder);
app.MapCscApi(csc, holder);

// One line that says the server is up and where: the host's own start-up lines are at warning level.
var mode = options.Development ? "development" : "production";
var holderOrigin = options.Listen.HolderOriginUri.ToString();
app.Lifetime.ApplicationStarted.Register(() => app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("DTrust").LogReady(
    mode, grpc.Port, csc.Port, holderOrigin, http.Port, admin.Port, options.StateDirectory));
await app.RunAsync();
return 0;
