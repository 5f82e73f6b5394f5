using System.Diagnostics;
using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using DTrust.Client;
using DTrust.KeyVault;
using DTrust.Signing.V1;
using Google.Protobuf;
using HashAlgorithm = DTrust.Signing.V1.HashAlgorithm;
using KeyAlgorithm = DTrust.KeyVault.KeyAlgorithm;
using WireAlgorithm = DTrust.Signing.V1.KeyAlgorithm;

namespace DTrust.LoadGen;

/// <summary>
/// One kind of request a partner sends. <see cref="RunOnceAsync"/> makes one whole operation on the worker's node
/// and answers how much of its time was not the server's (reading the one-time code, the holder's part).
/// </summary>
public abstract class Scenario(int number, string name, int signaturesPerOperation, RawOperation raw, KeyAlgorithm rawAlgorithm)
{
    public int Number => number;

    public string Name => name;

    public int SignaturesPerOperation => signaturesPerOperation;

    /// <summary>The HSM limit it is read against: which raw operation, with which key algorithm.</summary>
    public RawOperation Raw => raw;

    public KeyAlgorithm RawAlgorithm => rawAlgorithm;

    public abstract Task SetupAsync(Target target, int workers, CancellationToken ct);

    public abstract Task<TimeSpan> RunOnceAsync(int worker, CancellationToken ct);

    public static Scenario Create(int number) => number switch
    {
        1 => new SignScenario(1, "authorize + sign 1 hash, RAW, P-256", 1, WireAlgorithm.EcP256, SignatureFormat.Raw, timestamp: false),
        2 => new SignScenario(2, "authorize + sign 1 hash, CAdES-B-T, P-256", 1, WireAlgorithm.EcP256, SignatureFormat.CmsDetached, timestamp: true),
        3 => new SignScenario(3, "authorize + sign 100 hashes, RAW, P-256", 100, WireAlgorithm.EcP256, SignatureFormat.Raw, timestamp: false),
        4 => new SignScenario(4, "authorize + sign 1 hash, RAW, RSA-3072", 1, WireAlgorithm.Rsa3072, SignatureFormat.Raw, timestamp: false),
        5 => new TimestampScenario(),
        _ => throw new ArgumentOutOfRangeException(nameof(number), "scenarios are 1 to 5"),
    };
}

/// <summary>AuthorizeSignature, the code from the outbox, SignHash: the whole partner flow of a QUALIFIED credential.</summary>
public sealed class SignScenario(
    int number, string name, int hashCount, WireAlgorithm algorithm, SignatureFormat format, bool timestamp)
    : Scenario(
        number, name, hashCount,
        hashCount > 1 ? RawOperation.TokenSign : timestamp ? RawOperation.TransactionAndTokenSign : RawOperation.Transaction,
        algorithm == WireAlgorithm.Rsa3072 ? KeyAlgorithm.Rsa3072 : KeyAlgorithm.EcP256)
{
    private const string Pin = "24681357";

    private Target _target = null!;
    private DTrustClient[] _partners = [];
    private string[] _credentials = [];
    private ByteString[][] _hashes = [];

    public override async Task SetupAsync(Target target, int workers, CancellationToken ct)
    {
        _target = target;
        _partners = [.. target.Nodes.Select((_, i) => target.Connect(i, "partner"))];

        // RSA key generation takes a second or more in SoftHSM: a few credentials are shared by the workers.
        var count = Math.Min(workers, algorithm == WireAlgorithm.Rsa3072 ? 4 : 32);
        using var op = target.Connect(0, "operator");
        _credentials = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => ActiveCredentialAsync(op, ct)));
        _hashes = [.. Enumerable.Range(0, workers).Select(_ => Enumerable.Range(0, SignaturesPerOperation)
            .Select(_ => ByteString.CopyFrom(SHA256.HashData(RandomNumberGenerator.GetBytes(32)))).ToArray())];
    }

    public override async Task<TimeSpan> RunOnceAsync(int worker, CancellationToken ct)
    {
        var partner = _partners[worker % _partners.Length];
        var credential = _credentials[worker % _credentials.Length];
        var documents = _hashes[worker % _hashes.Length];
        var authorize = new AuthorizeSignatureRequest { CredentialId = credential, HashAlgorithm = HashAlgorithm.Sha256, Description = "load" };
        authorize.Hashes.AddRange(documents);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(authorize, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);

        var holder = Stopwatch.GetTimestamp();
        var otp = challenge.RequiredFactors.Contains(Factor.Otp) ? await _target.Outbox.CodeAsync(challenge.ChallengeId, ct) : "";
        var holderTime = Stopwatch.GetElapsedTime(holder);

        var sign = new SignHashRequest
        {
            CredentialId = credential,
            ChallengeId = challenge.ChallengeId,
            Otp = otp,
            ActivationPin = Pin,
            HashAlgorithm = HashAlgorithm.Sha256,
            SignatureFormat = format,
            Timestamp = timestamp,
            RsaPadding = RsaPadding.Pkcs1V15,
        };
        sign.Hashes.AddRange(documents);
        var signed = await partner.Signing.SignHashAsync(sign, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
        if (signed.Signatures.Count != documents.Length)
        {
            throw new InvalidOperationException($"{signed.Signatures.Count} signatures for {documents.Length} hashes");
        }

        return holderTime;
    }

    private async Task<string> ActiveCredentialAsync(DTrustClient op, CancellationToken ct)
    {
        var user = "load-" + Guid.NewGuid().ToString("N")[..10];
        await op.Credentials.UpsertHolderAsync(
            new UpsertHolderRequest { Holder = new Holder { UserId = user, GivenName = "Load", Surname = "Test", Country = "DE", Phone = "+4930000000" } },
            cancellationToken: ct);
        await op.Credentials.RecordIdentificationAsync(
            new RecordIdentificationRequest
            {
                UserId = user,
                Identification = new Identification
                {
                    Method = IdentificationMethod.VideoIdent,
                    VerifiedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-1)),
                    ValidUntil = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddYears(1)),
                },
            },
            cancellationToken: ct);
        var enrolled = await op.Credentials.EnrollCredentialAsync(
            new EnrollCredentialRequest { UserId = user, Level = Level.Qualified, KeyAlgorithm = algorithm }, cancellationToken: ct);
        await op.Credentials.ActivateCredentialAsync(
            new ActivateCredentialRequest
            {
                CredentialId = enrolled.Credential.CredentialId,
                TransportPin = await _target.Outbox.CodeAsync("transport-pin:" + enrolled.Credential.CredentialId, ct),
                ActivationPin = Pin,
            },
            cancellationToken: ct);
        return enrolled.Credential.CredentialId;
    }
}

/// <summary>
/// The TSA alone over gRPC: one RFC 3161 request per call. The answer's status is read, not its signature
/// verified: the generator shares the server's cores, and a verify costs as much as the HSM's sign.
/// </summary>
public sealed class TimestampScenario() : Scenario(5, "TSA only (gRPC Timestamp)", 1, RawOperation.TokenSign, KeyAlgorithm.EcP256)
{
    private DTrustClient[] _clients = [];
    private byte[][] _requests = [];

    public override Task SetupAsync(Target target, int workers, CancellationToken ct)
    {
        _clients = [.. target.Nodes.Select((_, i) => target.Connect(i, "partner"))];
        _requests = [.. Enumerable.Range(0, workers).Select(_ => Rfc3161TimestampRequest.CreateFromHash(
            SHA256.HashData(RandomNumberGenerator.GetBytes(32)), HashAlgorithmName.SHA256,
            nonce: RandomNumberGenerator.GetBytes(8), requestSignerCertificates: true).Encode())];
        return Task.CompletedTask;
    }

    public override async Task<TimeSpan> RunOnceAsync(int worker, CancellationToken ct)
    {
        var response = await _clients[worker % _clients.Length].TimestampAsync(_requests[worker % _requests.Length], ct);

        // TimeStampResp ::= SEQUENCE { status PKIStatusInfo ::= SEQUENCE { status INTEGER, ... }, timeStampToken ... }
        var status = new AsnReader(response, AsnEncodingRules.DER).ReadSequence().ReadSequence().ReadInteger();
        return status <= 1 ? TimeSpan.Zero : throw new InvalidOperationException("time-stamp refused, PKIStatus " + status);
    }
}
