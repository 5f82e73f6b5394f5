using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;

// Serves grpc.health.v1.Health/Check through Grpc.AspNetCore (configured as the server configures it: answers
// from the cached result of a background probe) and POST /plain as the bare Kestrel baseline,
// on one cleartext HTTP/2 listener at 127.0.0.1, so h2load measures both through the same server and routing.
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
builder.Services.AddGrpc();
builder.Services.AddGrpcHealthChecks(o => o.UseHealthChecksCache = true).AddCheck("up", () => HealthCheckResult.Healthy());
builder.Services.Configure<HealthCheckPublisherOptions>(o => o.Delay = TimeSpan.Zero);
var app = builder.Build();
app.MapGrpcHealthChecksService();

// The baseline does what a gRPC call must at least do: read the request body and write a small response.
var reply = new byte[] { 0, 0, 0, 0, 2, 8, 1 };
app.MapPost("/plain", context => PlainAsync(context, trailers: false));

// The same plus one trailer: how much of the gap is the trailing HEADERS frame every gRPC response must carry.
app.MapPost("/plain-trailers", context => PlainAsync(context, trailers: true));

// Bytes allocated so far by the whole process: read before and after a fixed number of requests to get allocations
// per call (gRPC against the plain baseline) without a profiler.
app.MapGet("/allocated", () => GC.GetTotalAllocatedBytes(precise: true).ToString(CultureInfo.InvariantCulture));

// With RPC_LOAD_ALLOC_TYPES=1, a sample of which types are allocated (the runtime's allocation tick, about one per
// 100 KB), to see where the bytes of a call go.
var allocationTypes = Environment.GetEnvironmentVariable("RPC_LOAD_ALLOC_TYPES") == "1" ? new AllocationSampler() : null;
app.MapGet("/allocated-types", () => allocationTypes?.Report() ?? "set RPC_LOAD_ALLOC_TYPES=1\n");

await app.StartAsync();
var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

// rpc-load.sh waits for this line to learn the port.
Console.WriteLine("listening " + new Uri(address).Port);
await app.WaitForShutdownAsync();

async Task PlainAsync(HttpContext context, bool trailers)
{
    while (true)
    {
        var read = await context.Request.BodyReader.ReadAsync();
        context.Request.BodyReader.AdvanceTo(read.Buffer.End);
        if (read.IsCompleted)
        {
            break;
        }
    }

    context.Response.ContentType = "application/octet-stream";
    await context.Response.BodyWriter.WriteAsync(reply);
    if (trailers)
    {
        context.Response.AppendTrailer("grpc-status", "0");
    }
}

internal sealed class AllocationSampler : EventListener
{
    private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

    public string Report() =>
        string.Join('\n', _counts.OrderByDescending(c => c.Value).Take(40).Select(c => $"{c.Value,8} {c.Key}")) + "\n";

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) == true
            && e.PayloadNames?.IndexOf("TypeName") is int i and >= 0
            && e.Payload?[i] is string type)
        {
            _counts.AddOrUpdate(type, 1, (_, n) => n + 1);
        }
    }
}
