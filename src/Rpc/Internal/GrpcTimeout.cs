using System.Globalization;

namespace DTrust.Rpc.Internal;

/// <summary>The <c>grpc-timeout</c> header: at most 8 ASCII digits and a unit (H, M, S, m, u, n).</summary>
internal static class GrpcTimeout
{
    private const long MaxValue = 99_999_999;

    public static bool TryParse(string? value, out TimeSpan timeout)
    {
        timeout = default;
        if (string.IsNullOrEmpty(value) || value.Length < 2 || value.Length > 9)
        {
            return false;
        }

        if (!long.TryParse(value.AsSpan(0, value.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return false;
        }

        // Large values in coarse units overflow TimeSpan; clamp them to "practically never".
        timeout = value[^1] switch
        {
            'H' => TimeSpan.FromHours(n),
            'M' => TimeSpan.FromMinutes(n),
            'S' => TimeSpan.FromSeconds(n),
            'm' => TimeSpan.FromMilliseconds(n),
            'u' => TimeSpan.FromTicks(n * 10),
            'n' => TimeSpan.FromTicks(n / 100),
            _ => TimeSpan.MinValue,
        };
        return timeout != TimeSpan.MinValue;
    }

    /// <summary>Encodes a remaining time in the finest unit whose value fits in 8 digits, rounding up.</summary>
    public static string Format(TimeSpan remaining)
    {
        if (remaining <= TimeSpan.Zero)
        {
            return "1n";
        }

        var ticks = remaining.Ticks;
        if (ticks <= MaxValue / 100)
        {
            return (ticks * 100).ToString(CultureInfo.InvariantCulture) + "n";
        }

        long[] divisors = [10, 10_000, 10_000_000, 600_000_000, 36_000_000_000];
        string[] units = ["u", "m", "S", "M", "H"];
        for (var i = 0; i < divisors.Length; i++)
        {
            var v = (ticks + divisors[i] - 1) / divisors[i];
            if (v <= MaxValue)
            {
                return v.ToString(CultureInfo.InvariantCulture) + units[i];
            }
        }

        return MaxValue.ToString(CultureInfo.InvariantCulture) + "H";
    }
}
