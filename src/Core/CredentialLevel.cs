namespace DTrust.Core;

/// <summary>Assurance level of a credential; each level signs in its own key domain (token). Persisted by name.</summary>
public enum CredentialLevel
{
    Simple = 1,
    Advanced = 2,
    Qualified = 3,
}
