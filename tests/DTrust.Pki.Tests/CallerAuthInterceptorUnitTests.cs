using DTrust.SigningServer.Callers;
using DTrust.SigningServer.Errors;
using DTrust.Store;
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
        var interceptor = new CallerAuthInterceptor(new CallerDirectory(new OneCaller(), TimeProvider.System), Limits(1000));
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
        var interceptor = new CallerAuthInterceptor(new CallerDirectory(new OneCaller(), TimeProvider.System), Limits(1000));
        var ran = false;
        await CallAsync(interceptor, kind, "Bearer " + Key, () => ran = true);
        Assert.True(ran);
    }

    [Fact]
    public async Task A_flood_of_one_unknown_key_reaches_the_store_once_and_the_set_stays_bounded()
    {
        var store = new OneCaller();
        var directory = new CallerDirectory(store, TimeProvider.System);
        for (var i = 0; i < 1000; i++)
        {
            Assert.Null(await directory.AuthenticateAsync("Bearer dtk_made-up", null, CancellationToken.None));
        }

        Assert.Equal(1, store.Lookups);

        // Many different made-up keys: each is looked up, none grows memory past the capacity (no way to see the
        // set's size from here but its effect: after the capacity is passed, the first key is asked for again).
        for (var i = 0; i < CallerDirectory.UnknownCapacity + 1; i++)
        {
            await directory.AuthenticateAsync($"Bearer dtk_flood-{i}", null, CancellationToken.None);
        }

        var before = store.Lookups;
        await directory.AuthenticateAsync("Bearer dtk_flood-0", null, CancellationToken.None);
        Assert.Equal(before + 1, store.Lookups);

        // A known key is unaffected.
        Assert.NotNull(await directory.AuthenticateAsync("Bearer " + Key, null, CancellationToken.None));
    }

    [Fact]
    public async Task Calls_beyond_the_callers_rate_are_refused_resource_exhausted_before_the_method_runs()
    {
        var interceptor = new CallerAuthInterceptor(new CallerDirectory(new OneCaller(), TimeProvider.System), Limits(5));
        var ran = 0;
        var refused = 0;
        for (var i = 0; i < 20; i++)
        {
            try
            {
                await CallAsync(interceptor, "unary", "Bearer " + Key, () => ran++);
            }
            catch (DTrustException e) when (e.Kind == ErrorKind.ResourceExhausted)
            {
                refused++;
            }
        }

        // Five in the bucket, and at most one refill of five if the second turned while the loop ran.
        Assert.InRange(ran, 5, 10);
        Assert.Equal(20 - ran, refused);
    }

    private static CallerRateLimits Limits(int perSecond) =>
        new(new DTrust.SigningServer.Hosting.ServerOptions { Grpc = new() { CallsPerSecondPerCaller = perSecond } });

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

        public int Lookups { get; private set; }

        public Task<CallerRecord?> FindCallerAsync(byte[] credentialHash, CancellationToken ct)
        {
            Lookups++;
            return Task.FromResult(credentialHash.AsSpan().SequenceEqual(_caller.CredentialHash) ? _caller : null);
        }

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
