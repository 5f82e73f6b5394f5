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
        6 => new HolderApprovalScenario(),
        7 => new SealScenario(7, "seal: sign 100 hashes, RAW, P-256, 16 callers", 100),
        8 => new SealScenario(8, "seal: sign 1 hash, RAW, P-256, 16 callers", 1),
        _ => throw new ArgumentOutOfRangeException(nameof(number), "scenarios are 1 to 8"),
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

    internal async Task<string[]> CredentialsAsync(Target target, int count, CancellationToken ct)
    {
        _target = target;
        using var op = target.Connect(0, "operator");
        return await Task.WhenAll(Enumerable.Range(0, count).Select(_ => ActiveCredentialAsync(op, ct)));
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
/// Holder approval, the page driven over HTTP as a browser without script would (no browser: its cost is the
/// holder's device, not the server's): AuthorizeSignature (HOLDER_APPROVAL, the partner redirects), the page, the
/// SMS code from the outbox, the form with PIN and code, GetAuthorization for the SAD, SignHash with it. Read against
/// a raw baseline that includes the approval's re-wrap.
/// </summary>
public sealed class HolderApprovalScenario() : Scenario(6, "holder approval (page, PIN + code) + sign 1 hash, P-256", 1, RawOperation.ApprovalAndTransaction, KeyAlgorithm.EcP256)
{
    private const string Pin = "24681357";

    private static readonly System.Text.RegularExpressions.Regex AntiForgery = new("name=\"af\" value=\"([^\"]+)\"", System.Text.RegularExpressions.RegexOptions.Compiled);

    private Target _target = null!;
    private DTrustClient[] _partners = [];
    private string[] _credentials = [];

    public override async Task SetupAsync(Target target, int workers, CancellationToken ct)
    {
        _target = target;
        _partners = [.. target.Nodes.Select((_, i) => target.Connect(i, "partner"))];
        _credentials = await new SignScenario(1, "", 1, WireAlgorithm.EcP256, SignatureFormat.Raw, timestamp: false)
            .CredentialsAsync(target, Math.Min(workers, 32), ct);
    }

    public override async Task<TimeSpan> RunOnceAsync(int worker, CancellationToken ct)
    {
        var partner = _partners[worker % _partners.Length];
        var credential = _credentials[worker % _credentials.Length];
        var hash = ByteString.CopyFrom(SHA256.HashData(RandomNumberGenerator.GetBytes(32)));
        var authorize = new AuthorizeSignatureRequest
        {
            CredentialId = credential,
            HashAlgorithm = HashAlgorithm.Sha256,
            Description = "load",
            Mode = AuthorizationMode.HolderApproval,
            PartnerRedirects = true,
        };
        authorize.Hashes.Add(hash);
        var authorization = await partner.Signing.AuthorizeSignatureAsync(authorize, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);

        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = new System.Net.CookieContainer(), AllowAutoRedirect = false });
        var page = await browser.GetStringAsync(new Uri(authorization.ApprovalUrl), ct);
        var holder = Stopwatch.GetTimestamp();
        var code = await _target.Outbox.CodeAsync(authorization.AuthorizationId, ct);
        var holderTime = Stopwatch.GetElapsedTime(holder);
        var form = new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["af"] = System.Net.WebUtility.HtmlDecode(AntiForgery.Match(page).Groups[1].Value),
            ["pin"] = Pin,
            ["factor"] = "sms",
            ["code"] = code,
        });
        using var approved = await browser.PostAsync(new Uri(authorization.ApprovalUrl), form, ct);
        var status = await partner.Signing.GetAuthorizationAsync(
            new GetAuthorizationRequest { CredentialId = credential, AuthorizationId = authorization.AuthorizationId }, cancellationToken: ct);
        if (status.State != AuthorizationState.Approved)
        {
            throw new InvalidOperationException($"the approval ended {status.State} ({(int)approved.StatusCode})");
        }

        var sign = new SignHashRequest
        {
            CredentialId = credential,
            AuthorizationId = authorization.AuthorizationId,
            Sad = status.Sad,
            HashAlgorithm = HashAlgorithm.Sha256,
            SignatureFormat = SignatureFormat.Raw,
        };
        sign.Hashes.Add(hash);
        var signed = await partner.Signing.SignHashAsync(sign, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
        return signed.Signatures.Count == 1 ? holderTime : throw new InvalidOperationException("no signature");
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

/// <summary>
/// An organisation's systems sealing: 16 partner callers, four qualified seals each bound to four of them, SignHash
/// with the hashes alone (no challenge, PIN or code). The seal's key is a token object, so the raw limit is C_Sign on
/// a token key, the same as the TSA's.
/// </summary>
public sealed class SealScenario(int number, string name, int hashCount)
    : Scenario(number, name, hashCount, RawOperation.TokenSign, KeyAlgorithm.EcP256)
{
    private const int Callers = 16;
    private const int CallersPerSeal = 4;

    private DTrustClient[] _callers = [];
    private string[] _seals = [];
    private ByteString[][] _hashes = [];

    public override async Task SetupAsync(Target target, int workers, CancellationToken ct)
    {
        using var op = target.Connect(0, "operator");
        var org = "load-org-" + Guid.NewGuid().ToString("N")[..8];
        await op.Credentials.UpsertOrganisationAsync(
            new UpsertOrganisationRequest
            {
                Organisation = new Organisation
                {
                    OrganisationId = org,
                    Name = "Load Test Versicherung AG",
                    Country = "DE",
                    Identifier = "NTRDE-HRB" + RandomNumberGenerator.GetInt32(10000, 99999).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Representative = "Load Test",
                    RepresentativeEvidence = "load generator",
                    RepresentativePhone = "+4930" + RandomNumberGenerator.GetInt32(1_000_000, 9_999_999).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    EvidenceVerifiedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(DateTimeOffset.UtcNow.AddDays(-1)),
                },
            },
            cancellationToken: ct);
        var created = new List<(string Id, string Key)>();
        for (var i = 0; i < Callers; i++)
        {
            var caller = await op.Credentials.CreateCallerAsync(
                new CreateCallerRequest { Name = $"{org}-system-{i}", Role = CallerRole.Partner }, cancellationToken: ct);
            created.Add((caller.Caller.CallerId, caller.ApiKey));
        }

        // Each seal as an operator makes it: the first call sends the representative a code, the second brings it.
        var seals = new List<string>();
        foreach (var group in created.Chunk(CallersPerSeal))
        {
            var request = new EnrollSealRequest { OrganisationId = org, Level = Level.QualifiedSeal, KeyAlgorithm = WireAlgorithm.EcP256, CallerIds = { group.Select(c => c.Id) } };
            try
            {
                await op.Credentials.EnrollSealAsync(request, cancellationToken: ct);
            }
            catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.FailedPrecondition)
            {
            }

            request.ConfirmationCode = await target.Outbox.CodeAsync("confirm:seal-enrol:" + org, ct);
            var seal = await op.Credentials.EnrollSealAsync(request, cancellationToken: ct);
            seals.AddRange(group.Select(_ => seal.CredentialId));
        }

        // Caller i signs with the seal it is bound to, on node i mod nodes.
        _seals = [.. seals];
        _callers = [.. created.Select((c, i) => DTrustClient.Connect(target.Nodes[i % target.Nodes.Count].Address, apiKey: c.Key))];
        _hashes = [.. Enumerable.Range(0, workers).Select(_ => Enumerable.Range(0, SignaturesPerOperation)
            .Select(_ => ByteString.CopyFrom(SHA256.HashData(RandomNumberGenerator.GetBytes(32)))).ToArray())];
    }

    public override async Task<TimeSpan> RunOnceAsync(int worker, CancellationToken ct)
    {
        var caller = worker % Callers;
        var documents = _hashes[worker % _hashes.Length];
        var sign = new SignHashRequest { CredentialId = _seals[caller], HashAlgorithm = HashAlgorithm.Sha256, SignatureFormat = SignatureFormat.Raw };
        sign.Hashes.AddRange(documents);
        var signed = await _callers[caller].Signing.SignHashAsync(sign, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
        return signed.Signatures.Count == documents.Length
            ? TimeSpan.Zero
            : throw new InvalidOperationException($"{signed.Signatures.Count} signatures for {documents.Length} hashes");
    }
}
