using System.Security.Cryptography;
using DTrust.SigningServer.Errors;

namespace DTrust.SigningServer.Credentials;

/// <summary>
/// The one place where a PIN becomes bytes. A credential key is bound to SHA-256(salt ‖ PIN bytes) forever, so the
/// encoding must never change: ASCII digits only, no normalisation, no trimming.
/// </summary>
public static class Pins
{
    public const int ActivationMinLength = 6;
    public const int ActivationMaxLength = 16;
    public const int TransportLength = 10;

    /// <summary>A new holder's activation PIN: 6 to 16 ASCII digits.</summary>
    public static byte[] Activation(string? pin) => Encode(pin, ActivationMinLength, ActivationMaxLength, "activation PIN");

    /// <summary>An activation PIN as presented for signing: wrong lengths are wrong PINs, not malformed requests.</summary>
    public static byte[] Presented(string? pin, string what) => Encode(pin, 1, 64, what);

    /// <summary>A random transport PIN of <see cref="TransportLength"/> digits from a CSPRNG.</summary>
    public static string NewTransportPin()
    {
        Span<char> digits = stackalloc char[TransportLength];
        for (var i = 0; i < digits.Length; i++)
        {
            digits[i] = (char)('0' + RandomNumberGenerator.GetInt32(10));
        }

        return new string(digits);
    }

    private static byte[] Encode(string? pin, int min, int max, string what)
    {
        if (string.IsNullOrEmpty(pin) || pin.Length < min || pin.Length > max)
        {
            throw new DTrustException(ErrorKind.InvalidArgument, $"the {what} must be {min} to {max} digits");
        }

        var bytes = new byte[pin.Length];
        for (var i = 0; i < pin.Length; i++)
        {
            if (pin[i] is < '0' or > '9')
            {
                throw new DTrustException(ErrorKind.InvalidArgument, $"the {what} must consist of the digits 0-9 only");
            }

            bytes[i] = (byte)pin[i];
        }

        return bytes;
    }
}
