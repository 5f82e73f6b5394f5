using DTrust.SigningServer.Store;

namespace DTrust.SigningServer.Credentials;

/// <summary>Each level signs in the key domain of the same name: advanced and qualified keys never share a token.</summary>
public static class Levels
{
    public static string Domain(CredentialLevel level) => level switch
    {
        CredentialLevel.Simple => "simple",
        CredentialLevel.Advanced => "advanced",
        CredentialLevel.Qualified => "qualified",
        _ => throw new ArgumentOutOfRangeException(nameof(level)),
    };
}
