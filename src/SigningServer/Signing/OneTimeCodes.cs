using System.Security.Cryptography;
using System.Text;

namespace DTrust.SigningServer.Signing;

/// <summary>
/// Six-digit one-time codes from a CSPRNG, kept only as HMAC-SHA256(secret, challenge id ‖ code): Redis never holds
/// a code that a reader of its memory or AOF could replay.
/// </summary>
public sealed class OneTimeCodes(byte[] secret)
{
    public static string NewCode() => RandomNumberGenerator.GetInt32(0, 1_000_000).ToString("D6", System.Globalization.CultureInfo.InvariantCulture);

    public string Mac(string challengeId, string code)
    {
        var mac = HMACSHA256.HashData(secret, Encoding.UTF8.GetBytes(challengeId + "\n" + code));
        return Convert.ToHexString(mac);
    }

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
