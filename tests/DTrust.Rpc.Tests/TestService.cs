using System.Collections.Concurrent;
using System.Globalization;
using DTrust.Rpc.Server;
using DTrust.Rpc.Tests.Protos;

namespace DTrust.Rpc.Tests;

/// <summary>The methods of dtrust.test.v1.TestService, shared by the server and our client.</summary>
public static class TestMethods
{
    public const string Service = "dtrust.test.v1.TestService";

    public static readonly RpcMethod<EchoRequest, EchoReply> Echo = new(MethodType.Unary, Service, "Echo", EchoRequest.Parser, EchoReply.Parser);
    public static readonly RpcMethod<FailRequest, EchoReply> Fail = new(MethodType.Unary, Service, "Fail", FailRequest.Parser, EchoReply.Parser);
    public static readonly RpcMethod<EchoRequest, EchoReply> Sleep = new(MethodType.Unary, Service, "Sleep", EchoRequest.Parser, EchoReply.Parser);
    public static readonly RpcMethod<EchoRequest, EchoReply> Crash = new(MethodType.Unary, Service, "Crash", EchoRequest.Parser, EchoReply.Parser);
    public static readonly RpcMethod<CountRequest, EchoReply> Count = new(MethodType.ServerStreaming, Service, "Count", CountRequest.Parser, EchoReply.Parser);

    /// <summary>A method the server does not have, for UNIMPLEMENTED.</summary>
    public static readonly RpcMethod<EchoRequest, EchoReply> Missing = new(MethodType.Unary, Service, "Missing", EchoRequest.Parser, EchoReply.Parser);

    /// <summary>A service the server does not have.</summary>
    public static readonly RpcMethod<EchoRequest, EchoReply> NoService = new(MethodType.Unary, "dtrust.test.v1.Nope", "Echo", EchoRequest.Parser, EchoReply.Parser);
}

/// <summary>The server side of the test service; it records what tests need to observe (cancellation, concurrency).</summary>
public sealed class TestServiceHandlers
{
    private readonly ConcurrentDictionary<string, TaskCompletionSource> _cancelled = new();
    private TaskCompletionSource _allArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _arrived;
    private int _barrierSize = int.MaxValue;

    /// <summary>Calls to Sleep with message "barrier" wait until this many are in flight at once.</summary>
    public void ResetBarrier(int size)
    {
        _arrived = 0;
        _barrierSize = size;
        _allArrived = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Completes when a Sleep call with this message saw its cancellation token fire.</summary>
    public Task CancellationSeen(string probe) =>
        _cancelled.GetOrAdd(probe, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task;

    public GrpcServiceDefinition Definition => GrpcServiceDefinition.CreateBuilder()
        .AddUnary(TestMethods.Echo, EchoAsync)
        .AddUnary(TestMethods.Fail, FailAsync)
        .AddUnary(TestMethods.Sleep, SleepAsync)
        .AddUnary(TestMethods.Crash, CrashAsync)
        .AddServerStreaming(TestMethods.Count, CountAsync)
        .Build();

    private static Task<EchoReply> EchoAsync(EchoRequest request, ServerCallContext context)
    {
        context.ResponseHeaders.Add("x-reply-header", "h");
        context.ResponseTrailers.Add("x-reply-trailer", "t");
        return Task.FromResult(new EchoReply
        {
            Message = request.Message,
            PayloadSize = request.Payload.Length,
            Peer = context.Peer,
            Header = context.RequestHeaders.GetValue("x-test") ?? "",
            ClientCertificate = context.ClientCertificate?.Subject ?? "",
        });
    }

    private static Task<EchoReply> FailAsync(FailRequest request, ServerCallContext context)
    {
        var trailers = new Metadata { { "x-fail-trailer", "yes" } };
        throw new RpcException((StatusCode)request.Code, request.Detail, trailers);
    }

    private async Task<EchoReply> SleepAsync(EchoRequest request, ServerCallContext context)
    {
        try
        {
            if (request.Message == "barrier")
            {
                if (Interlocked.Increment(ref _arrived) >= _barrierSize)
                {
                    _allArrived.TrySetResult();
                }

                await _allArrived.Task.WaitAsync(TimeSpan.FromSeconds(30), context.CancellationToken);
            }
            else
            {
                await Task.Delay(request.SleepMs, context.CancellationToken);
            }

            return new EchoReply { Message = request.Message };
        }
        catch (OperationCanceledException)
        {
            _cancelled.GetOrAdd(request.Message, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
            throw;
        }
    }

    private static Task<EchoReply> CrashAsync(EchoRequest request, ServerCallContext context) =>
        request.Message == "domain"
            ? throw new KeyNotFoundException("no such credential")
            : throw new InvalidOperationException("secret internal detail 42");

    private static async Task CountAsync(CountRequest request, IServerStreamWriter<EchoReply> stream, ServerCallContext context)
    {
        // A negative count streams that many messages, then fails: the status must arrive in trailers.
        var n = Math.Abs(request.Count);
        for (var i = 0; i < n; i++)
        {
            await stream.WriteAsync(new EchoReply { Message = i.ToString(CultureInfo.InvariantCulture) }, context.CancellationToken);
        }

        if (request.Count < 0)
        {
            throw new RpcException(StatusCode.Aborted, "stream broke after " + n);
        }
    }
}
