using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using DTrust.Core;
using DTrust.Pki;
using DTrust.Store;
using DTrust.Tsa;

namespace DTrust.SigningServer.Credentials;

/// <summary>
/// Signed checkpoints of the audit chain, so that whoever can write the database cannot cut its tail or rewrite it
/// unseen: a checkpoint held elsewhere names the entry count and the head hash at its time, signed by the audit key
/// (its own HSM token) and time-stamped by our TSA, and commits to the checkpoint before it.
/// </summary>
/// <remarks>
/// The form is a c2sp.org signed note carrying a transparency-log checkpoint:
/// <code>
/// ORIGIN
/// SIZE
/// base64(head hash)
/// time 2026-12-03T12:00:00.000Z
/// merkle base64(RFC 9162 Merkle tree root over the SIZE entry hashes)
/// prev base64(SHA-256 of the previous checkpoint's text)
///
/// — dtrust-audit base64(key id ‖ DER ECDSA P-256/SHA-256 signature over the text above the blank line)
/// — dtrust-tsa base64(key id ‖ RFC 3161 TimeStampToken over the SHA-256 of that text)
/// </code>
/// The key id is the first 4 bytes of SHA-256(name ‖ "\n" ‖ SubjectPublicKeyInfo of the key's certificate). With
/// openssl: the text is <c>sed '/^$/q' note | head -c -1</c>, the signature the base64 after the name minus its first 4
/// bytes, verified by <c>openssl dgst -sha256 -verify audit.pub -signature sig.der text</c>.
/// </remarks>
public sealed class AuditCheckpoints : IDisposable
{
    public const string AuditKeyName = "dtrust-audit";
    public const string TsaKeyName = "dtrust-tsa";

    private readonly IAuditLog _log;
    private readonly AuditSigner? _signer;
    private readonly TimeStampAuthority _tsa;
    private readonly TsaIdentity _tsaIdentity;
    private readonly TimeProvider _time;
    private readonly string _directory;
    private readonly string _origin;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private string? _latest;

    // The Merkle tree's right edge over the entries checkpointed so far (rebuilt from the log after a start).
    private MerkleFrontier _frontier = new();
    private byte[] _frontierHead = AuditChain.GenesisHash;

    /// <param name="signer">The audit key and certificate; null (production without a certificate) disables checkpoints.</param>
    public AuditCheckpoints(IAuditLog log, AuditSigner? signer, TimeStampAuthority tsa, TsaIdentity tsaIdentity, TimeProvider time, string directory, string origin)
    {
        if (origin.Contains('\n', StringComparison.Ordinal) || origin.Length == 0)
        {
            throw new ArgumentException("the checkpoint origin must be one non-empty line", nameof(origin));
        }

        (_log, _signer, _tsa, _tsaIdentity, _time, _directory, _origin) = (log, signer, tsa, tsaIdentity, time, directory, origin);
        Directory.CreateDirectory(directory);
        _latest = LoadLatest(directory);
    }

    /// <summary>latest.txt if it reads as a checkpoint, else the newest numbered one that does; null before the first.</summary>
    private static string? LoadLatest(string directory)
    {
        var candidates = new[] { Path.Combine(directory, "latest.txt") }
            .Concat(Directory.GetFiles(directory, "checkpoint-*.txt").OrderDescending(StringComparer.Ordinal));
        foreach (var file in candidates.Where(File.Exists))
        {
            var note = File.ReadAllText(file);
            if (note.Contains("\n\n", StringComparison.Ordinal) && note.Split('\n').Length > 3
                && long.TryParse(note.Split('\n')[1], NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                return note;
            }
        }

        return null;
    }

    public bool Enabled => _signer is not null;

    /// <summary>The latest checkpoint's note, or null before the first.</summary>
    public string? Latest => Volatile.Read(ref _latest);

    /// <summary>
    /// Signs a checkpoint of the chain as it is now and writes it out (checkpoint-SIZE.txt and latest.txt). With
    /// <paramref name="onlyIfGrown"/>, nothing happens when the chain has not grown since the latest checkpoint.
    /// </summary>
    public async Task<(string Note, long Size)?> CreateAsync(bool onlyIfGrown, CancellationToken ct)
    {
        var signer = _signer ?? throw new DTrustException(ErrorKind.FailedPrecondition, "no audit certificate is configured (DTrust:Audit:CertificatePath)");
        await _gate.WaitAsync(ct);
        try
        {
            var (size, head) = await _log.GetHeadAsync(ct);
            var previous = _latest;
            if (onlyIfGrown && previous is not null && SizeOf(previous) == size)
            {
                return null;
            }

            // Never sign a head that does not extend the last checkpoint: a chain cut or rewritten in the database
            // would otherwise get a fresh signature with a correct prev line.
            var (fromSize, fromHead) = previous is null ? (0L, AuditChain.GenesisHash) : (SizeOf(previous), HeadOf(previous));
            var problem = size < fromSize
                ? $"the chain has {size} entries, the last checkpoint saw {fromSize} (cut tail)"
                : await AuditChain.ExtendsAsync(_log.ReadAfterAsync(Math.Max(0, fromSize - 1), ct), fromSize, fromHead, size, head, ct);
            if (problem is not null)
            {
                throw new DTrustException(ErrorKind.FailedPrecondition, "the audit chain does not extend the last checkpoint: " + problem);
            }

            var merkle = await MerkleRootAsync(size, head, ct);
            var text = new StringBuilder()
                .Append(_origin).Append('\n')
                .Append(size.ToString(CultureInfo.InvariantCulture)).Append('\n')
                .Append(Convert.ToBase64String(head)).Append('\n')
                .Append("time ").Append(_time.GetUtcNow().UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)).Append('\n')
                .Append("merkle ").Append(Convert.ToBase64String(merkle)).Append('\n');
            if (previous is not null)
            {
                text.Append("prev ").Append(Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(TextOf(previous))))).Append('\n');
            }

            var body = Encoding.UTF8.GetBytes(text.ToString());
            var digest = SHA256.HashData(body);
            using var key = (ECDsa)signer.Key.CreateAlgorithm();
            var signature = key.SignHash(digest, DSASignatureFormat.Rfc3279DerSequence);
            var stamp = await _tsa.TimestampAsync(HashAlgorithmName.SHA256, digest, includeCertificate: true, ct);
            if (!stamp.IsGranted)
            {
                throw new DTrustException(ErrorKind.Unavailable, $"the TSA refused the checkpoint's time-stamp: {stamp.StatusText}");
            }

            var note = text.Append('\n')
                .Append(SignatureLine(AuditKeyName, signer.Certificate.PublicKey.ExportSubjectPublicKeyInfo(), signature))
                .Append(SignatureLine(TsaKeyName, _tsaIdentity.Certificate.PublicKey.ExportSubjectPublicKeyInfo(), stamp.Token.ToArray()))
                .ToString();

            // The numbered file first (size and time: two checkpoints of one size both stay), and it is the one the
            // next checkpoint's prev names even if latest.txt cannot be written.
            var when = _time.GetUtcNow().UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff", CultureInfo.InvariantCulture);
            await File.WriteAllTextAsync(Path.Combine(_directory, $"checkpoint-{size:D12}-{when}.txt"), note, ct);
            Volatile.Write(ref _latest, note);
            var temporary = Path.Combine(_directory, "latest.txt.partial");
            await File.WriteAllTextAsync(temporary, note, ct);
            File.Move(temporary, Path.Combine(_directory, "latest.txt"), overwrite: true);
            return (note, size);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// The Merkle root over the first <paramref name="size"/> entry hashes, from the frontier kept since the last
    /// checkpoint: only the entries added since are read, each checked to hash right and to link to the one before
    /// (the first checkpoint after a start reads the chain once), and the last must be <paramref name="head"/>.
    /// </summary>
    private async Task<byte[]> MerkleRootAsync(long size, byte[] head, CancellationToken ct)
    {
        if (_frontier.Size > size)
        {
            // A tree ahead of the chain (a checkpoint that failed after extending it, then a shorter chain): start over.
            var ahead = _frontier.Size;
            _frontier = new MerkleFrontier();
            _frontierHead = AuditChain.GenesisHash;
            throw new DTrustException(ErrorKind.FailedPrecondition, $"the audit chain has {size} entries, fewer than the {ahead} already in the tree");
        }

        var frontier = _frontier;
        var previous = _frontierHead;
        try
        {
            await foreach (var entry in _log.ReadAfterAsync(frontier.Size, ct))
            {
                if (entry.Sequence > size)
                {
                    break;
                }

                if (entry.Sequence != frontier.Size + 1 || !entry.PreviousHash.AsSpan().SequenceEqual(previous)
                    || !entry.Hash.AsSpan().SequenceEqual(AuditChain.ComputeHash(entry.Sequence, entry.PreviousHash, entry.Event)))
                {
                    throw new DTrustException(ErrorKind.FailedPrecondition, $"the audit chain is broken at entry {entry.Sequence}; no checkpoint signed");
                }

                frontier.Append(AuditHashes.Leaf(entry.Hash));
                previous = entry.Hash;
            }

            if (frontier.Size != size || !previous.AsSpan().SequenceEqual(head))
            {
                throw new DTrustException(ErrorKind.FailedPrecondition, $"the audit chain's entry {size} is not the head the store keeps; no checkpoint signed");
            }
        }
        catch
        {
            // Half extended is no tree at all: the next checkpoint reads the chain from the start.
            _frontier = new MerkleFrontier();
            _frontierHead = AuditChain.GenesisHash;
            throw;
        }

        _frontierHead = previous;
        return frontier.Root();
    }

    public void Dispose() => _gate.Dispose();

    /// <summary>The signed text of a note: everything up to (and with) the newline before the blank line.</summary>
    public static string TextOf(string note) => note[..(note.IndexOf("\n\n", StringComparison.Ordinal) + 1)];

    private static long SizeOf(string note) => long.Parse(note.Split('\n')[1], CultureInfo.InvariantCulture);

    private static byte[] HeadOf(string note) => Convert.FromBase64String(note.Split('\n')[2]);

    private static string SignatureLine(string name, byte[] subjectPublicKeyInfo, byte[] signature)
    {
        var id = SHA256.HashData([.. Encoding.UTF8.GetBytes(name + "\n"), .. subjectPublicKeyInfo])[..4];
        return $"\u2014 {name} {Convert.ToBase64String([.. id, .. signature])}\n";
    }
}

/// <summary>Signs a checkpoint every Audit:CheckpointSeconds when the chain grew; a failure is logged and retried next tick.</summary>
public sealed class AuditCheckpointTimer(AuditCheckpoints checkpoints, TimeSpan interval, TimeProvider time, ILogger<AuditCheckpointTimer> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!checkpoints.Enabled)
        {
            log.LogWarning("No audit certificate (DTrust:Audit:CertificatePath): no audit checkpoints are signed");
            return;
        }

        using var timer = new PeriodicTimer(interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await checkpoints.CreateAsync(onlyIfGrown: true, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A chain that no longer extends the last checkpoint is evidence of tampering: an error, every tick.
                log.LogError(e, "Audit checkpoint failed; the next tick tries again");
            }
        }
    }
}
