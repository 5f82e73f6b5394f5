using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace DTrust.Client.Commands;

/// <summary>
/// The one way the CLI builds a certificate path: to the given roots only, with extra certificates from the file,
/// at a given time, revocation left to the caller (which reads it from the embedded data or asks the responder).
/// </summary>
internal static class TrustChain
{
    /// <summary>A chain policy for <paramref name="at"/>; null ignores validity times (to walk the path only).</summary>
    public static X509Chain Create(X509Certificate2Collection roots, X509Certificate2Collection extra, DateTime? at, string? eku = null)
    {
        var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);
        chain.ChainPolicy.ExtraStore.AddRange(extra);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (at is { } time)
        {
            chain.ChainPolicy.VerificationTime = time;
        }
        else
        {
            chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid;
        }

        if (eku is not null)
        {
            chain.ChainPolicy.ApplicationPolicy.Add(new Oid(eku));
        }

        return chain;
    }

    /// <summary>Whether <paramref name="leaf"/> chains to a root at <paramref name="at"/> (with the EKU, when given).</summary>
    public static bool Chains(X509Certificate2 leaf, X509Certificate2Collection roots, X509Certificate2Collection extra, DateTime at, string? eku)
    {
        using var chain = Create(roots, extra, at, eku);
        return chain.Build(leaf);
    }
}
