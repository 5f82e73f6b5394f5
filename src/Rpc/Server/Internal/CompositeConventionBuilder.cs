using Microsoft.AspNetCore.Builder;

namespace DTrust.Rpc.Server.Internal;

/// <summary>Applies a convention (RequireHost, metadata…) to every endpoint of a mapped service.</summary>
internal sealed class CompositeConventionBuilder(IReadOnlyList<IEndpointConventionBuilder> builders) : IEndpointConventionBuilder
{
    public void Add(Action<EndpointBuilder> convention)
    {
        foreach (var b in builders)
        {
            b.Add(convention);
        }
    }

    public void Finally(Action<EndpointBuilder> finallyConvention)
    {
        foreach (var b in builders)
        {
            b.Finally(finallyConvention);
        }
    }
}
