using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace DTrust.SigningServer.Signing;

/// <summary>
/// Six-digit one-time codes from a CSPRNG, kept only as HMAC-SHA256(secret, challenge id ‖ code): Redis never holds
/// a code that a reader of its memory or AOF could replay. The same secret seals each challenge (<see cref="Seal"/>),
/// so whoever can write to Redis but lacks the secret cannot make or alter one.
/// </summary>
public sealed class OneTimeCodes(byte[] secret)
{
    // A key of its own for seals (derived, so one secret file still serves): a code MAC can never pass for a seal.
    // v2: the seal covers the factor name too (v1 challenges, at most one lifetime old at an upgrade, are void).
    private readonly byte[] _sealKey = HMACSHA256.HashData(secret, "dtrust challenge seal v2"u8);

    public static string NewCode() => RandomNumberGenerator.GetInt32(0, 1_000_000).ToString("D6", System.Globalization.CultureInfo.InvariantCulture);

    public string Mac(string challengeId, string code)
    {
        var mac = HMACSHA256.HashData(secret, Encoding.UTF8.GetBytes(challengeId + "\n" + code));
        return Convert.ToHexString(mac);
    }

    /// <summary>
    /// HMAC over every field of a challenge that decides what it authorizes: id, partner, credential, hash list
    /// digest and count, the second factor (name, whether one is required, and its value, e.g. the code's MAC), and
    /// the expiry. Each field is length-prefixed, so no two different challenges encode alike.
    /// </summary>
    public string Seal(Challenge c)
    {
        ArgumentNullException.ThrowIfNull(c);
        var text = new StringBuilder("challenge");
        foreach (var field in new[]
        {
            c.Id, c.PartnerId, c.CredentialId, c.HashListDigest, c.HashCount.ToString(CultureInfo.InvariantCulture),
            c.Factor ?? "", c.FactorValue is null ? "0" : "1", c.FactorValue ?? "",
            c.ExpiresAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
        })
        {
            text.Append('\n').Append(field.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(field);
        }

        return Convert.ToHexString(HMACSHA256.HashData(_sealKey, Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>Compares two MACs or seals (hex) in constant time: a timing difference must not reveal a prefix.</summary>
    public static bool SameMac(string a, string b) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(a), Encoding.ASCII.GetBytes(b));

    /// <summary>
    /// HMAC over length-prefixed <paramref name="fields"/> of a record kind other than a challenge (under a key of
    /// its own per kind), for what else the server keeps in Redis and must not be forged there.
    /// </summary>
    public string SealFields(string kind, params string[] fields)
    {
        ArgumentNullException.ThrowIfNull(fields);
        var key = HMACSHA256.HashData(secret, Encoding.UTF8.GetBytes("dtrust " + kind + " seal v1"));
        var text = new StringBuilder(kind);
        foreach (var field in fields)
        {
            text.Append('\n').Append(field.Length.ToString(CultureInfo.InvariantCulture)).Append(':').Append(field);
        }

        return Convert.ToHexString(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>
    /// Encrypts a value the server keeps in Redis but Redis must not be able to use (the SAD): AES-256-GCM under a
    /// key of its own per kind, bound to <paramref name="context"/> (the record it belongs to) as associated data.
    /// </summary>
    public string Protect(string kind, string context, string plaintext)
    {
        ArgumentNullException.ThrowIfNull(plaintext);
        var clear = Encoding.UTF8.GetBytes(plaintext);
        var output = new byte[12 + 16 + clear.Length];
        RandomNumberGenerator.Fill(output.AsSpan(0, 12));
        using var aes = new AesGcm(AtRestKey(kind), 16);
        aes.Encrypt(output.AsSpan(0, 12), clear, output.AsSpan(28), output.AsSpan(12, 16), Encoding.UTF8.GetBytes(context));
        return Convert.ToBase64String(output);
    }

    /// <summary>The value <see cref="Protect"/> sealed, or null when it was altered, moved to another context or is not ours.</summary>
    public string? Unprotect(string kind, string context, string sealedValue)
    {
        byte[] input;
        try
        {
            input = Convert.FromBase64String(sealedValue);
        }
        catch (FormatException)
        {
            return null;
        }

        if (input.Length < 28)
        {
            return null;
        }

        var clear = new byte[input.Length - 28];
        try
        {
            using var aes = new AesGcm(AtRestKey(kind), 16);
            aes.Decrypt(input.AsSpan(0, 12), input.AsSpan(28), input.AsSpan(12, 16), clear, Encoding.UTF8.GetBytes(context));
            return Encoding.UTF8.GetString(clear);
        }
        catch (AuthenticationTagMismatchException)
        {
            return null;
        }
    }

    private byte[] AtRestKey(string kind) => HMACSHA256.HashData(secret, Encoding.UTF8.GetBytes("dtrust " + kind + " at rest v1"));

    /// <summary>Reads the secret file; in development a missing file is created (0600) with 32 random bytes.</summary>
    public static OneTimeCodes FromFile(string path, bool createIfMissing)
    {
        if (!File.Exists(path))
        {
            if (!createIfMissing)
            {
                throw new InvalidOperationException(
                    $"the one-time code secret file '{path}' does not exist (DTrust:Signing:OtpSecretFile; the same file on every node)");
            }

            if (OperatingSystem.IsWindows())
            {
                throw new PlatformNotSupportedException("the secret file is written 0600");
            }

            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            using var file = new FileStream(path, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
            });
            file.Write(RandomNumberGenerator.GetBytes(32));
        }

        var secret = File.ReadAllBytes(path);
        return secret.Length >= 32
            ? new OneTimeCodes(secret)
            : throw new InvalidOperationException($"the one-time code secret in '{path}' is shorter than 32 bytes");
    }
}
