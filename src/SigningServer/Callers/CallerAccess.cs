using DTrust.Store;
using Grpc.Core;

namespace DTrust.SigningServer.Callers;

/// <summary>
/// The roles that may call a gRPC service method. Without it a method of ours is operator-only: forgetting the
/// attribute closes a method, it never opens one.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class)]
internal sealed class AllowRolesAttribute(params CallerRole[] roles) : Attribute
{
    public IReadOnlyList<CallerRole> Roles { get; } = roles;
}

/// <summary>The authenticated caller of the current call, as the authentication interceptor placed it.</summary>
internal static class CallerContext
{
    private const string Key = "dtrust.caller";

    public static void SetCaller(this ServerCallContext context, CallerRecord caller) => context.UserState[Key] = caller;

    /// <summary>The caller; only services behind the authentication interceptor call this.</summary>
    public static CallerRecord Caller(this ServerCallContext context) =>
        context.UserState.TryGetValue(Key, out var c) && c is CallerRecord caller
            ? caller
            : throw new InvalidOperationException("no authenticated caller on this call");
}
