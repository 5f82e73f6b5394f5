namespace DTrust.Core;

/// <summary>
/// Assurance level of a credential; each level signs in its own key domain (token) under its own issuing CA.
/// Persisted by name. The seal levels are credentials of an organisation (a legal person), not of a natural person.
/// </summary>
public enum CredentialLevel
{
    Simple = 1,
    Advanced = 2,
    Qualified = 3,

    /// <summary>Qualified electronic seal (eIDAS art. 38): QCP-l-qscd, key in a seal token of its own.</summary>
    QualifiedSeal = 4,

    /// <summary>Advanced electronic seal based on a qualified certificate (QCP-l).</summary>
    AdvancedSeal = 5,
}

/// <summary>What follows from a level alone.</summary>
public static class CredentialLevels
{
    /// <summary>A seal belongs to an organisation and signs without a person's PIN or second factor.</summary>
    public static bool IsSeal(this CredentialLevel level) => level is CredentialLevel.QualifiedSeal or CredentialLevel.AdvancedSeal;
}
