using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using DTrust.SigningServer.Callers;
using DTrust.SigningServer.Hosting;
using DTrust.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DTrust.Pki.Tests;

/// <summary>
/// The one edge every front end uses: caller authentication, roles, the per-caller rate and the refusing fallback,
/// hosted as the server hosts them (AddCallerAccess, UseAuthorization) over REST endpoints on a loopback Kestrel.
/// The check runs in the HTTP pipeline before any endpoint, so a gRPC method of any call kind (unary or streaming)
/// gets exactly the same check; the gRPC answers themselves are covered by the server's integration tests.
/// </summary>
public sealed class CallerAccessTests : IAsyncLifetime, IDisposable
{
    private const string Key = "dtk_known-test-key";
    private const string PartnerKey = "dtk_partner-test-key";

    private readonly Callers _store = new();
    private WebApplication _app = null!;
    private HttpClient _http = null!;
    private int _ran;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddSingleton(new ServerOptions { Grpc = new() { CallsPerSecondPerCaller = 5 } });
        builder.Services.AddSingleton<ICallerStore>(_store);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<CallerDirectory>();
        builder.Services.AddSingleton<CallerRateLimits>();
        builder.Services.AddCallerAccess();
        _app = builder.Build();
        _app.UseRouting();
        _app.UseAuthorization();
        _app.MapGet("/operator", [AllowRoles(CallerRole.Operator)] (HttpContext h) => Ran(h));
        _app.MapGet("/partner", [AllowRoles(CallerRole.Partner)] (HttpContext h) => Ran(h));
        _app.MapGet("/unnamed", (HttpContext h) => Ran(h));
        _app.MapGet("/anonymous", () => "open").AllowAnonymous();

        // Roles on the group and on the endpoint, as a gRPC service has them on its class and a method.
        _app.MapGroup("/group").WithMetadata(new AllowRolesAttribute(CallerRole.Operator))
            .MapGet("/both", [AllowRoles(CallerRole.Operator)] (HttpContext h) => Ran(h));
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task A_missing_or_unknown_key_is_refused_unauthenticated_before_the_endpoint_runs()
    {
        foreach (var key in new string?[] { null, "dtk_someone-else" })
        {
            using var response = await GetAsync("/operator", key);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            var body = await ErrorAsync(response);
            Assert.Equal("invalid_token", body.Error);
            Assert.Equal("a valid API key or client certificate is required", body.Description);
        }

        Assert.Equal(0, _ran);
    }

    [Fact]
    public async Task A_known_key_runs_the_endpoint_and_it_sees_the_caller()
    {
        using var response = await GetAsync("/operator", Key);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("caller_test", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_role_the_endpoint_does_not_name_is_refused_permission_denied()
    {
        using var response = await GetAsync("/partner", Key);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("the operator role may not call this method", (await ErrorAsync(response)).Description);
        Assert.Equal(0, _ran);

        using var partner = await GetAsync("/partner", PartnerKey);
        Assert.Equal(HttpStatusCode.OK, partner.StatusCode);
    }

    [Fact]
    public async Task An_endpoint_that_names_no_role_is_refused_to_every_caller()
    {
        foreach (var key in new[] { Key, PartnerKey })
        {
            using var response = await GetAsync("/unnamed", key);
            Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.Contains("names no role", (await ErrorAsync(response)).Description, StringComparison.Ordinal);
        }

        Assert.Equal(0, _ran);
    }

    [Fact]
    public async Task Anonymous_endpoints_never_ask_the_directory_whatever_key_is_sent()
    {
        using var response = await GetAsync("/anonymous", "dtk_made-up-for-a-public-url");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, _store.Lookups);
    }

    [Fact]
    public async Task A_path_that_matches_no_endpoint_is_404_and_never_asks_the_directory()
    {
        foreach (var key in new string?[] { null, Key, "dtk_made-up" })
        {
            using var response = await GetAsync("/no/such/path", key);
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }

        Assert.Equal(0, _store.Lookups);
    }

    [Fact]
    public async Task Roles_named_twice_take_one_token_a_call()
    {
        var ran = 0;
        for (var i = 0; i < 20; i++)
        {
            using var response = await GetAsync("/group/both", Key);
            ran += response.StatusCode == HttpStatusCode.OK ? 1 : 0;
        }

        // Five in the bucket and at most one refill; two tokens a call would let two or three through.
        Assert.InRange(ran, 5, 10);
    }

    [Fact]
    public async Task A_grpc_request_is_refused_with_a_grpc_status_not_an_http_error()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/operator");
        request.Content = new ByteArrayContent([]);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        using var response = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("16", response.Headers.GetValues("grpc-status").Single());
        Assert.Equal("a valid API key or client certificate is required", Uri.UnescapeDataString(response.Headers.GetValues("grpc-message").Single()));
    }

    [Fact]
    public async Task Calls_beyond_the_callers_rate_are_refused_resource_exhausted_before_the_endpoint_runs()
    {
        var ran = 0;
        var refused = 0;
        for (var i = 0; i < 20; i++)
        {
            using var response = await GetAsync("/operator", Key);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                ran++;
            }
            else
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
                Assert.Equal("too many calls from this caller; slow down", (await ErrorAsync(response)).Description);
                refused++;
            }
        }

        // Five in the bucket, and at most one refill of five if the second turned while the loop ran.
        Assert.InRange(ran, 5, 10);
        Assert.Equal(20 - ran, refused);
        Assert.Equal(ran, _ran);
    }

    [Fact]
    public async Task A_flood_of_one_unknown_key_reaches_the_store_once_and_the_set_stays_bounded()
    {
        var store = new Callers();
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

    private string Ran(HttpContext http)
    {
        Interlocked.Increment(ref _ran);
        return http.Caller().Id;
    }

    private async Task<HttpResponseMessage> GetAsync(string path, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return await _http.SendAsync(request);
    }

    private static async Task<(string Error, string Description)> ErrorAsync(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return (json.RootElement.GetProperty("error").GetString()!, json.RootElement.GetProperty("error_description").GetString()!);
    }

    private sealed class Callers : ICallerStore
    {
        private readonly CallerRecord[] _callers =
        [
            new() { Id = "caller_test", Tenant = "t", Name = "test", Role = CallerRole.Operator, CredentialHash = ApiKeys.Hash(Key), CreatedAt = DateTimeOffset.UnixEpoch },
            new() { Id = "caller_partner", Tenant = "t", Name = "partner", Role = CallerRole.Partner, CredentialHash = ApiKeys.Hash(PartnerKey), CreatedAt = DateTimeOffset.UnixEpoch },
        ];

        private int _lookups;

        public int Lookups => Volatile.Read(ref _lookups);

        public Task<CallerRecord?> FindCallerAsync(byte[] credentialHash, CancellationToken ct)
        {
            Interlocked.Increment(ref _lookups);
            return Task.FromResult(_callers.FirstOrDefault(c => credentialHash.AsSpan().SequenceEqual(c.CredentialHash)));
        }

        public Task<bool> InsertCallerAsync(CallerRecord caller, CancellationToken ct) => throw new NotSupportedException();

        public Task<CallerRecord?> GetCallerAsync(string callerId, CancellationToken ct) => Task.FromResult(_callers.FirstOrDefault(c => c.Id == callerId));

        public Task<IReadOnlyList<CallerRecord>> ListCallersAsync(string tenant, CancellationToken ct) => throw new NotSupportedException();

        public Task<bool> RevokeCallerAsync(string tenant, string callerId, DateTimeOffset at, CancellationToken ct) => throw new NotSupportedException();
    }
}
