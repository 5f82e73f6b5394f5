using System.Security.Cryptography;
using DTrust.Rpc;
using DTrust.Rpc.Health;
using DTrust.SigningServer.Errors;
using DTrust.SigningServer.Hosting;
using DTrust.SigningServer.Pki;
using DTrust.SigningServer.Timestamping;
using DTrust.Tsa;
using StackExchange.Redis;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

// appsettings.json sits beside the binary; make run starts it from the repository root.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
var options = builder.Configuration.GetSection(ServerOptions.Section).Get<ServerOptions>() ?? new ServerOptions();
options.StateDirectory = Path.GetFullPath(options.StateDirectory);

builder.WebHost.ConfigureKestrel(k => Listeners.Configure(k, options.Listen));
builder.Services.AddSingleton(options);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddGrpcTransport(o => o.ExceptionMapper = ErrorMapping.ToStatus);
builder.Services.AddSingleton(sp => VaultFactory.Open(options, sp.GetRequiredService<ILoggerFactory>()));
builder.Services.AddSingleton<DevPki>();
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

    return new TimeStampAuthority(
        tsaOptions,
        new TsaSigner(identity.Certificate, identity.Key, identity.Chain),
        sp.GetRequiredService<TimeProvider>(),
        sp.GetRequiredService<IClockStatus>(),
        sp.GetRequiredService<ILoggerFactory>().CreateLogger<TimeStampAuthority>());
});
builder.Services.AddSingleton(sp => new TimestampService(sp.GetRequiredService<TimeStampAuthority>(), options.Hsm.Sessions));
builder.Services.AddSingleton<IConnectionMultiplexer>(_ =>
{
    // Redis being down must not stop the host from starting: what needs it fails closed and recovers on reconnect.
    var redis = ConfigurationOptions.Parse(options.Redis.Configuration);
    redis.AbortOnConnectFail = false;
    return ConnectionMultiplexer.Connect(redis);
});

var app = builder.Build();

// Fail fast at start-up on a wrong PIN, a missing token or a certificate that does not match its HSM key.
app.Services.GetRequiredService<TimeStampAuthority>();
var redisConnection = app.Services.GetRequiredService<IConnectionMultiplexer>();

var grpcHost = "*:" + Listeners.Port(options.Listen.Grpc);
var httpHost = "*:" + Listeners.Port(options.Listen.Http);
app.MapGrpcHealthService().RequireHost(grpcHost);
app.MapGrpcService(TimestampEndpoints.GrpcService(app.Services.GetRequiredService<TimestampService>())).RequireHost(grpcHost);
app.MapHttpTsa(httpHost);
app.MapGet("/healthz", () => Results.Json(new
{
    status = "ok",
    redis = redisConnection.IsConnected ? "up" : "down",
    clock = !options.Tsa.RequireSynchronizedClock ? "not checked"
        : app.Services.GetRequiredService<IClockStatus>().IsSynchronized ? "synchronized" : "unsynchronized",
})).RequireHost(httpHost);

app.Lifetime.ApplicationStarted.Register(() =>
    app.Services.GetRequiredService<HealthService>().SetStatus(HealthService.Server, ServingStatus.Serving));
app.Lifetime.ApplicationStopping.Register(() =>
    app.Services.GetRequiredService<HealthService>().SetStatus(HealthService.Server, ServingStatus.NotServing));

await app.RunAsync();
