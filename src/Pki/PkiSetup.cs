using DTrust.KeyVault;

namespace DTrust.Pki;

/// <summary>
/// What the host tells the PKI about itself: where its files live (CSRs, certificates, CRLs), whether this is a
/// development node (which may make its own root), and the TSA key and certificate the operator configured.
/// </summary>
/// <param name="Directory">Usually <c>{state}/pki</c>.</param>
public sealed record PkiSetup(
    string Directory,
    bool Development,
    KeyAlgorithm TsaKeyAlgorithm = KeyAlgorithm.EcP256,
    string? TsaCertificatePath = null,
    string? TsaChainPath = null);
