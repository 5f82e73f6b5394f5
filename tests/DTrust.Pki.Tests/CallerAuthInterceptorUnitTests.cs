using DTrust.SigningServer.Callers;
using DTrust.SigningServer.Errors;
using DTrust.SigningServer.Store;
using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace DTrust.Pki.Tests;

/// <summary>
/// The caller check runs for every call kind. No RPC of ours streams from the client yet, so a streaming method
/// added later must not be the one that skips authentication: each kind is called without a key, with an unknown
/// key and with a known one, and the method body runs only for the known key.
/// </summary>
public sealed class CallerAuthInterceptorUnitTests
{
    private const string Key = "dtk_known-test-key";

    public static TheoryData<string> Kinds => ["unary", "server-streaming", "client-streaming", "duplex-streaming"];

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Every_call_kind_refuses_a_missing_or_unknown_key_before_the_method_runs(string kind)
    {
        var interceptor = new CallerAuthInterceptor(new CallerDirectory(new OneCaller(), TimeProvider.System));
        foreach (var authorization in new string?[] { null, "Bearer dtk_someone-else" })
        {
            var ran = false;
            var refused = await Assert.ThrowsAsync<DTrustException>(() => CallAsync(interceptor, kind, authorization, () => ran = true));
            Assert.Equal(ErrorKind.Unauthenticated, refused.Kind);
            Assert.False(ran, $"{kind} ran its method without a caller");
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Every_call_kind_runs_with_a_known_key_and_sees_the_caller(string kind)
    {
        var interceptor = new CallerAuthInterceptor(new CallerDirectory(new OneCaller(), TimeProvider.System));
        var ran = false;
        await CallAsync(interceptor, kind, "Bearer " + Key, () => ran = true);
        Assert.True(ran);
    }

    private static async Task CallAsync(CallerAuthInterceptor interceptor, string kind, string? authorization, Action body)
    {
        var context = new TestContext(authorization);
        Task<string> Run(ServerCallContext c)
        {
            Assert.Equal("caller_test", c.Caller().Id);
            body();
            return Task.FromResult("done");
        }

        switch (kind)
        {
            case "unary":
                await interceptor.UnaryServerHandler<string, string>("x", context, (_, c) => Run(c));
                break;
            case "server-streaming":
                await interceptor.ServerStreamingServerHandler<string, string>("x", null!, context, (_, _, c) => Run(c));
                break;
            case "client-streaming":
                await interceptor.ClientStreamingServerHandler<string, string>(null!, context, (_, c) => Run(c));
                break;
            default:
                await interceptor.DuplexStreamingServerHandler<string, string>(null!, null!, context, (_, _, c) => Run(c));
                break;
        }
    }

    private sealed class OneCaller : ICallerStore
    {
        private readonly CallerRecord _caller = new()
        {
            Id = "caller_test",
            Tenant = "t",
            Name = "test",
            Role = CallerRole.Operator,
            CredentialHash = ApiKeys.Hash(Key),
            CreatedAt = DateTimeOffset.UnixEpoch,
        };

        public Task<CallerRecord?> FindCallerAsync(byte[] credentialHash, CancellationToken ct) =>
            Task.FromResult(credentialHash.AsSpan().SequenceEqual(_caller.CredentialHash) ? _caller : null);

        public Task<bool> InsertCallerAsync(CallerRecord caller, CancellationToken ct) => throw new NotSupportedException();

        public Task<IReadOnlyList<CallerRecord>> ListCallersAsync(string tenant, CancellationToken ct) => throw new NotSupportedException();

        public Task<bool> RevokeCallerAsync(string tenant, string callerId, DateTimeOffset at, CancellationToken ct) => throw new NotSupportedException();
    }

    /// <summary>A call as Grpc.AspNetCore hands it over; the HttpContext sits where GetHttpContext looks for test servers.</summary>
    private sealed class TestContext : ServerCallContext
    {
        private readonly Metadata _headers = [];
        private readonly Dictionary<object, object> _state = [];

        public TestContext(string? authorization)
        {
            if (authorization is not null)
            {
                _headers.Add("authorization", authorization);
            }

            _state["__HttpContext"] = new DefaultHttpContext();
        }

        protected override string MethodCore => "/dtrust.test.v1.Streams/Call";

        protected override string HostCore => "localhost";

        protected override string PeerCore => "ipv4:127.0.0.1:1";

        protected override DateTime DeadlineCore => DateTime.MaxValue;

        protected override Metadata RequestHeadersCore => _headers;

        protected override CancellationToken CancellationTokenCore => CancellationToken.None;

        protected override Metadata ResponseTrailersCore { get; } = [];

        protected override Status StatusCore { get; set; }

        protected override WriteOptions? WriteOptionsCore { get; set; }

        protected override AuthContext AuthContextCore => new(null, []);

        protected override IDictionary<object, object> UserStateCore => _state;

        protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) =>
            throw new NotSupportedException();

        protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => Task.CompletedTask;
    }
}
