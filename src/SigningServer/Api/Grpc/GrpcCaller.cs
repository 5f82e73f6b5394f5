using DTrust.SigningServer.Callers;
using DTrust.Store;
using Grpc.Core;

namespace DTrust.SigningServer.Api.Grpc;

public static class GrpcCaller
{
    /// <summary>The authenticated caller of this call; only methods behind <see cref="AllowRolesAttribute"/> call it.</summary>
    public static CallerRecord Caller(this ServerCallContext context) => context.GetHttpContext().Caller();
}
