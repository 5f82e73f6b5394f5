using System.Threading.Channels;
using DTrust.Rpc.Server;
using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace DTrust.Rpc.Health;

/// <summary>
/// <c>grpc.health.v1.Health</c>: statuses the host sets per service name. The empty name stands for the whole
/// server and starts NOT_SERVING, so load balancers wait until the host declares itself ready.
/// </summary>
public sealed class HealthService
{
    public const string ServiceName = "grpc.health.v1.Health";

    /// <summary>The name that stands for the server as a whole.</summary>
    public const string Server = "";

    public static readonly RpcMethod<HealthCheckRequest, HealthCheckResponse> CheckMethod =
        new(MethodType.Unary, ServiceName, "Check", HealthCheckRequest.Parser, HealthCheckResponse.Parser);

    public static readonly RpcMethod<HealthCheckRequest, HealthCheckResponse> WatchMethod =
        new(MethodType.ServerStreaming, ServiceName, "Watch", HealthCheckRequest.Parser, HealthCheckResponse.Parser);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, ServingStatus> _statuses = new(StringComparer.Ordinal) { [Server] = ServingStatus.NotServing };
    private readonly List<(string Service, Channel<ServingStatus> Updates)> _watchers = [];

    public HealthService()
    {
        Definition = GrpcServiceDefinition.CreateBuilder()
            .AddUnary(CheckMethod, CheckAsync)
            .AddServerStreaming(WatchMethod, WatchAsync)
            .Build();
    }

    public GrpcServiceDefinition Definition { get; }

    /// <summary>Sets the status of <paramref name="service"/> (or of the server, <see cref="Server"/>) and tells watchers.</summary>
    public void SetStatus(string service, ServingStatus status)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_lock)
        {
            _statuses[service] = status;
            Notify(service, status);
        }
    }

    /// <summary>Forgets <paramref name="service"/>: Check answers NOT_FOUND and watchers see SERVICE_UNKNOWN.</summary>
    public void ClearStatus(string service)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_lock)
        {
            if (_statuses.Remove(service))
            {
                Notify(service, ServingStatus.ServiceUnknown);
            }
        }
    }

    public ServingStatus? GetStatus(string service)
    {
        lock (_lock)
        {
            return _statuses.TryGetValue(service, out var s) ? s : null;
        }
    }

    private Task<HealthCheckResponse> CheckAsync(HealthCheckRequest request, ServerCallContext context) =>
        GetStatus(request.Service) is { } status
            ? Task.FromResult(new HealthCheckResponse { Status = status })
            : throw new RpcException(StatusCode.NotFound, $"Unknown service '{request.Service}'");

    private async Task WatchAsync(
        HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> stream, ServerCallContext context)
    {
        // Only the latest status matters to a watcher that falls behind.
        var updates = Channel.CreateBounded<ServingStatus>(
            new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        var entry = (request.Service, updates);
        ServingStatus current;
        lock (_lock)
        {
            current = _statuses.TryGetValue(request.Service, out var s) ? s : ServingStatus.ServiceUnknown;
            _watchers.Add(entry);
        }

        try
        {
            await stream.WriteAsync(new HealthCheckResponse { Status = current }, context.CancellationToken);
            await foreach (var next in updates.Reader.ReadAllAsync(context.CancellationToken))
            {
                if (next != current)
                {
                    current = next;
                    await stream.WriteAsync(new HealthCheckResponse { Status = current }, context.CancellationToken);
                }
            }
        }
        finally
        {
            lock (_lock)
            {
                _watchers.Remove(entry);
            }
        }
    }

    private void Notify(string service, ServingStatus status)
    {
        foreach (var (name, updates) in _watchers)
        {
            if (name == service)
            {
                updates.Writer.TryWrite(status);
            }
        }
    }
}
