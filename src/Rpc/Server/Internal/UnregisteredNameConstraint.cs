using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;

namespace DTrust.Rpc.Server.Internal;

/// <summary>
/// A route parameter of an UNIMPLEMENTED fallback that matches any name except the registered ones. Routing asks
/// <see cref="MatchesLiteral"/> when it builds its tree, so a fallback is never a candidate beside a registered
/// method: without it, every call also paid for capturing the fallback's route values (two strings, a dictionary).
/// </summary>
internal sealed class UnregisteredNameConstraint(HashSet<string> registered) : IRouteConstraint, IParameterLiteralNodeMatchingPolicy
{
    // Routing compares literals ignoring case, so the set must too.
    public static HashSet<string> CreateSet() => new(StringComparer.OrdinalIgnoreCase);

    public bool Match(
        HttpContext? httpContext, IRouter? route, string routeKey, RouteValueDictionary values, RouteDirection routeDirection) =>
        values.TryGetValue(routeKey, out var value) && value is string name && !registered.Contains(name);

    public bool MatchesLiteral(string parameterName, string literal) => !registered.Contains(literal);
}
