using System.Buffers.Binary;
using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DTrust.Server.Tests;

/// <summary>
/// A software WebAuthn authenticator (P-256, "none" attestation) written from the WebAuthn Level 3 data layouts, for
/// the attacks a browser's authenticator will not make: no user verification, another origin, a cross-origin frame,
/// replays. The real-browser tests use chromium's own virtual authenticator for the honest path.
/// </summary>
internal sealed class SoftAuthenticator : IDisposable
{
    private static readonly string[] Transports = ["internal"];

    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly byte[] _id = RandomNumberGenerator.GetBytes(16);
    private uint _counter;

    public SoftAuthenticator(Uri origin, bool backupEligible = false)
    {
        Origin = origin.GetLeftPart(UriPartial.Authority);
        RpId = origin.Host;
        BackupEligible = backupEligible;
    }

    public string Origin { get; }

    public string RpId { get; }

    public bool BackupEligible { get; }

    public string Id => B64Url(_id);

    /// <summary>What the browser answers to navigator.credentials.create for these options (JSON as the page posts it).</summary>
    public string Attest(string optionsJson)
    {
        var challenge = JsonNode.Parse(optionsJson)!["challenge"]!.GetValue<string>();
        var clientData = ClientData("webauthn.create", challenge, Origin, crossOrigin: false);
        var cose = new CborWriter(CborConformanceMode.Ctap2Canonical);
        var p = _key.ExportParameters(false);
        cose.WriteStartMap(5);
        cose.WriteInt32(1);
        cose.WriteInt32(2);
        cose.WriteInt32(3);
        cose.WriteInt32(-7);
        cose.WriteInt32(-1);
        cose.WriteInt32(1);
        cose.WriteInt32(-2);
        cose.WriteByteString(p.Q.X!);
        cose.WriteInt32(-3);
        cose.WriteByteString(p.Q.Y!);
        cose.WriteEndMap();
        var attested = new List<byte>();
        attested.AddRange(new byte[16]);
        attested.Add((byte)(_id.Length >> 8));
        attested.Add((byte)_id.Length);
        attested.AddRange(_id);
        attested.AddRange(cose.Encode());
        var authData = AuthData(flags: 0x01 | 0x04 | 0x40, attested.ToArray());

        var attestation = new CborWriter(CborConformanceMode.Ctap2Canonical);
        attestation.WriteStartMap(3);
        attestation.WriteTextString("fmt");
        attestation.WriteTextString("none");
        attestation.WriteTextString("attStmt");
        attestation.WriteStartMap(0);
        attestation.WriteEndMap();
        attestation.WriteTextString("authData");
        attestation.WriteByteString(authData);
        attestation.WriteEndMap();
        return JsonSerializer.Serialize(new
        {
            id = Id,
            rawId = Id,
            type = "public-key",
            response = new { attestationObject = B64Url(attestation.Encode()), clientDataJSON = B64Url(clientData), transports = Transports },
            clientExtensionResults = new { },
        });
    }

    /// <summary>
    /// What the browser answers to navigator.credentials.get; the parameters make it lie the ways an attacker's
    /// client would (no user verification, another origin, from inside a cross-origin frame).
    /// </summary>
    public string Assert(string optionsJson, bool userVerified = true, string? origin = null, bool crossOrigin = false)
    {
        var challenge = JsonNode.Parse(optionsJson)!["challenge"]!.GetValue<string>();
        var clientData = ClientData("webauthn.get", challenge, origin ?? Origin, crossOrigin);
        _counter++;
        var authData = AuthData(flags: (byte)(0x01 | (userVerified ? 0x04 : 0)), []);
        var signature = _key.SignData([.. authData, .. SHA256.HashData(clientData)], HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        return JsonSerializer.Serialize(new
        {
            id = Id,
            rawId = Id,
            type = "public-key",
            response = new
            {
                authenticatorData = B64Url(authData),
                clientDataJSON = B64Url(clientData),
                signature = B64Url(signature),
            },
            clientExtensionResults = new { },
        });
    }

    public void Dispose() => _key.Dispose();

    public static string B64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private byte[] AuthData(byte flags, byte[] attested)
    {
        var data = new byte[32 + 1 + 4 + attested.Length];
        SHA256.HashData(Encoding.UTF8.GetBytes(RpId)).CopyTo(data, 0);
        data[32] = (byte)(flags | (BackupEligible ? 0x08 : 0));
        BinaryPrimitives.WriteUInt32BigEndian(data.AsSpan(33), _counter);
        attested.CopyTo(data, 37);
        return data;
    }

    private static byte[] ClientData(string type, string challenge, string origin, bool crossOrigin) =>
        Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { type, challenge, origin, crossOrigin }));
}
