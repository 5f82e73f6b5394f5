using DTrust.Rpc.Internal;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace DTrust.Rpc.Server.Internal;

/// <summary>
/// The protocol checks every gRPC request passes before its method runs, and the mapping of how a call ended to the
/// status the peer sees.
/// </summary>
internal sealed class GrpcDispatcher(IOptions<GrpcTransportOptions> options, ILoggerFactory loggerFactory)
{
    private readonly GrpcTransportOptions _options = options.Value;
    private readonly ILogger _logger = loggerFactory.CreateLogger("DTrust.Rpc.Server");

    /// <summary>Set once the catch-all route for unknown services is mapped.</summary>
    public bool FallbackMapped { get; set; }

    /// <summary>Services with mapped methods; the catch-all fallback leaves them to their own fallback.</summary>
    public HashSet<string> Services { get; } = UnregisteredNameConstraint.CreateSet();

    /// <summary>The mapped methods of each service, which that service's fallback leaves alone.</summary>
    public Dictionary<string, HashSet<string>> MethodsByService { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>A path no service registered: UNIMPLEMENTED for gRPC, a plain 404 for anything else.</summary>
    public Task HandleUnknownAsync(HttpContext http)
    {
        if (!GrpcProtocol.IsGrpcContentType(http.Request.ContentType))
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }

        return HandleAsync(http, null);
    }

    public async Task HandleAsync(HttpContext http, ServerMethod? method)
    {
        var request = http.Request;
        var response = http.Response;
        if (!HttpProtocol.IsHttp2(request.Protocol) && !HttpProtocol.IsHttp3(request.Protocol))
        {
            Reject(http, StatusCodes.Status426UpgradeRequired, StatusCode.Internal, "gRPC requires HTTP/2");
            response.Headers.Connection = "Upgrade";
            response.Headers.Upgrade = "h2c";
            return;
        }

        if (!GrpcProtocol.IsGrpcContentType(request.ContentType))
        {
            Reject(
                http,
                StatusCodes.Status415UnsupportedMediaType,
                StatusCode.Internal,
                $"Content-Type '{request.ContentType}' is not supported; use application/grpc");
            return;
        }

        if (method is null)
        {
            Reject(http, StatusCodes.Status200OK, StatusCode.Unimplemented, $"Method is unimplemented: {request.Path}");
            return;
        }

        var encoding = request.Headers[GrpcProtocol.EncodingHeader].ToString();
        if (encoding.Length > 0 && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            response.Headers[GrpcProtocol.AcceptEncodingHeader] = "identity";
            Reject(http, StatusCodes.Status200OK, StatusCode.Unimplemented, $"Message encoding '{encoding}' is not supported");
            return;
        }

        LiftBodyLimits(http);

        var timeoutHeader = request.Headers[GrpcProtocol.TimeoutHeader].ToString();
        TimeSpan? timeout = null;
        if (timeoutHeader.Length > 0)
        {
            if (GrpcTimeout.TryParse(timeoutHeader, out var t))
            {
                timeout = t;
            }
            else
            {
                ServerLog.InvalidTimeout(_logger, timeoutHeader);
            }
        }

        // Without a deadline the request's own abort token is enough; a token source is made only for a timer.
        CancellationTokenSource? cts = null;
        var deadline = DateTime.MaxValue;

        // Beyond what a timer can hold, treat the deadline as absent rather than fail the call.
        if (timeout is { } limit && limit < TimeSpan.FromDays(30))
        {
            deadline = DateTime.UtcNow + limit;
            cts = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
            cts.CancelAfter(limit);
        }

        var context = new ServerCallContext(
            method.Path,
            RequestMetadata(request.Headers),
            deadline,
            http.Connection.RemoteIpAddress,
            http.Connection.RemotePort,
            // Not http.Connection.ClientCertificate: on a connection without TLS that creates an empty feature per call.
            http.Features.Get<ITlsConnectionFeature>()?.ClientCertificate,
            cts?.Token ?? http.RequestAborted);
        var call = new GrpcCall(http, context, _options, _logger, cts);
        try
        {
            await method.RunAsync(call);
            await call.FinishAsync(RpcStatus.Ok);
        }
#pragma warning disable CA1031 // Every failure becomes a status here; this is the one place that decides which.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            await call.FailAsync(ex);
        }
        finally
        {
            if (call.PendingHandler is { IsCompleted: false } orphan)
            {
                WatchOrphan(orphan, method.Path, cts);
            }
            else
            {
                cts?.Dispose();
            }
        }
    }

    // Apart from HandleAsync so that its closure is made only for an orphan, not at the start of every call.
    private void WatchOrphan(Task orphan, string path, CancellationTokenSource? cts)
    {
        // The call ended without the handler (deadline or reset); its token source must outlive it.
        _ = orphan.ContinueWith(
            t =>
            {
                if (t.Exception is { } e)
                {
                    ServerLog.LateHandlerFailure(_logger, path, e);
                }

                cts?.Dispose();
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private static void LiftBodyLimits(HttpContext http)
    {
        // gRPC bounds each message from its prefix; a stream may carry many, and a slow client is judged by deadline.
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = null;
        }

        if (http.Features.Get<IHttpMinRequestBodyDataRateFeature>() is { } rate)
        {
            rate.MinDataRate = null;
        }
    }

    private static Metadata RequestMetadata(IHeaderDictionary headers)
    {
        var metadata = new Metadata();
        foreach (var (name, values) in headers)
        {
            if (GrpcProtocol.IsReservedHeader(name))
            {
                continue;
            }

            foreach (var value in values)
            {
                if (value is not null)
                {
                    metadata.AddFromWire(name, value);
                }
            }
        }

        return metadata;
    }

    private void Reject(HttpContext http, int httpStatus, StatusCode code, string detail)
    {
        ServerLog.Rejected(_logger, http.Request.Path, detail);
        http.Response.StatusCode = httpStatus;
        http.Response.ContentType = GrpcProtocol.ContentType;
        GrpcProtocol.SetStatus(http.Response.Headers, new RpcStatus(code, detail));
    }
}
