using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using DTrust.KeyVault.Internal;
using DTrust.KeyVault.Interop;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace DTrust.KeyVault;

/// <summary>
/// The only door to the HSM: loads the PKCS#11 module (through Pkcs11Interop) once per process and opens one key
/// domain per configured token, each with its own pool of logged-in sessions.
/// </summary>
public sealed class HsmVault : IDisposable
{
    /// <summary>
    /// The System.Diagnostics.Metrics meter of the session pools: per domain (tag <c>domain</c>), sessions in use and
    /// capacity (gauges), leases that had to wait and the time they waited (counters).
    /// </summary>
    public const string MeterName = "DTrust.KeyVault";

    private readonly Dictionary<string, KeyDomain> _domains;
    private readonly VaultMetrics _metrics;

    private HsmVault(Dictionary<string, KeyDomain> domains)
    {
        _domains = domains;
        _metrics = new VaultMetrics(domains.Values);
    }

    public IReadOnlyCollection<KeyDomain> Domains => _domains.Values;

    internal Meter Meter => _metrics.Meter;

    /// <summary>
    /// Validates <paramref name="options"/> (two domains bound to one token are refused), finds each token by label
    /// and serial, and logs in its sessions. If any domain fails, the domains already opened are closed again.
    /// </summary>
    public static HsmVault Open(KeyVaultOptions options, ILoggerFactory? loggerFactory = null) =>
        Open(options, loggerFactory, decorate: null);

    /// <summary>As <see cref="Open(KeyVaultOptions, ILoggerFactory?)"/>, with the binding wrapped (tests inject faults).</summary>
    internal static HsmVault Open(KeyVaultOptions options, ILoggerFactory? loggerFactory, Func<IPkcs11, IPkcs11>? decorate)
    {
        Validate(options);
        var log = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("DTrust.KeyVault");
        IPkcs11 p11;
        try
        {
            p11 = Pkcs11InteropAdapter.Load(options.ModulePath);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException or Pkcs11Exception)
        {
            throw new KeyVaultException(
                KeyVaultErrorKind.Configuration, $"cannot load PKCS#11 module '{options.ModulePath}': {e.Message}", e);
        }

        if (decorate is not null)
        {
            p11 = decorate(p11);
        }

        var slots = ResolveSlots(p11, options.Domains);
        var domains = new Dictionary<string, KeyDomain>(StringComparer.Ordinal);
        try
        {
            foreach (var d in options.Domains)
            {
                var pool = SessionPool.Open(p11, d.Name, slots[d.Name], ReadPin(d), d.Sessions, log);
                domains.Add(d.Name, new KeyDomain(d.Name, d.TokenLabel, p11, pool, log));
                Log.DomainOpened(log, d.Name, d.TokenLabel, slots[d.Name], d.Sessions);
            }
        }
        catch
        {
            foreach (var opened in domains.Values)
            {
                opened.Dispose();
            }

            throw;
        }

        return new HsmVault(domains);
    }

    public KeyDomain Domain(string name) => _domains.TryGetValue(name, out var domain)
        ? domain
        : throw new KeyVaultException(KeyVaultErrorKind.Configuration, $"no key domain named '{name}' is configured");

    public void Dispose()
    {
        _metrics.Dispose();
        foreach (var domain in _domains.Values)
        {
            domain.Dispose();
        }
    }

    private static void Validate(KeyVaultOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Domains is not { Count: > 0 })
        {
            throw Config("no key domains are configured");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var d in options.Domains)
        {
            if (string.IsNullOrWhiteSpace(d.Name) || !names.Add(d.Name))
            {
                throw Config($"key domain names must be unique and non-empty ('{d.Name}')");
            }

            if (string.IsNullOrWhiteSpace(d.TokenLabel) || Encoding.UTF8.GetByteCount(d.TokenLabel) > 32)
            {
                throw Config($"key domain '{d.Name}' needs a token label of 1 to 32 bytes");
            }

            if ((d.Pin is null) == (d.PinFile is null))
            {
                throw Config($"key domain '{d.Name}' needs exactly one of Pin and PinFile");
            }

            if (d.Sessions is < 1 or > 256)
            {
                throw Config($"key domain '{d.Name}' needs between 1 and 256 sessions");
            }
        }

        // Caught here by configuration, and again after lookup by slot (a label and a serial can name one token).
        for (var i = 0; i < options.Domains.Count; i++)
        {
            for (var j = i + 1; j < options.Domains.Count; j++)
            {
                var (a, b) = (options.Domains[i], options.Domains[j]);
                var sameSerial = a.TokenSerial is null || b.TokenSerial is null || a.TokenSerial == b.TokenSerial;
                if (a.TokenLabel == b.TokenLabel && sameSerial)
                {
                    throw SameToken(a.Name, b.Name, a.TokenLabel);
                }
            }
        }
    }

    private static Dictionary<string, ulong> ResolveSlots(IPkcs11 p11, IList<KeyDomainOptions> domains)
    {
        List<(ulong Slot, TokenInfo Token)> tokens = [];
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                tokens = [.. p11.GetSlotList(tokenPresent: true).Select(s => (s, p11.GetTokenInfo(s)))];
                break;
            }
            catch (Pkcs11Exception e) when (attempt < 8 && e.ReturnValue == CK.CKR_GENERAL_ERROR)
            {
                // SoftHSM answers CKR_GENERAL_ERROR for a token whose files another process is writing this instant
                // (pkcs11-tool, an HSM admin adding a key); a moment later it reads again. Seen when the tests import
                // keys into one token while another vault opens: about 3 s of patience, then it is an outage.
                Thread.Sleep(100 * attempt);
            }
            catch (Pkcs11Exception e)
            {
                throw new KeyVaultException(KeyVaultErrorKind.HsmUnavailable, $"cannot list tokens: {e.Message}", e);
            }
        }

        var slots = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var d in domains)
        {
            // Find by label: SoftHSM gives tokens initialised with --free a random slot id.
            var matches = tokens
                .Where(t => t.Token.Label == d.TokenLabel && (d.TokenSerial is null || t.Token.SerialNumber == d.TokenSerial))
                .ToList();
            if (matches.Count != 1)
            {
                throw Config(matches.Count == 0
                    ? $"key domain '{d.Name}': no token labelled '{d.TokenLabel}'{SerialText(d)} is present"
                    : $"key domain '{d.Name}': {matches.Count} tokens are labelled '{d.TokenLabel}'; set TokenSerial");
            }

            var other = slots.FirstOrDefault(s => s.Value == matches[0].Slot);
            if (other.Key is not null)
            {
                throw SameToken(other.Key, d.Name, d.TokenLabel);
            }

            slots.Add(d.Name, matches[0].Slot);
        }

        return slots;
    }

    private static string SerialText(KeyDomainOptions d) => d.TokenSerial is null ? "" : $" with serial '{d.TokenSerial}'";

    private static byte[] ReadPin(KeyDomainOptions d)
    {
        if (d.Pin is not null)
        {
            return Encoding.UTF8.GetBytes(d.Pin);
        }

        try
        {
            // Read as bytes, not as a string: a string cannot be cleared and would keep the PIN until collected.
            // Pin files written by hand often end in a newline (and may start with a UTF-8 BOM) not part of the PIN.
            var raw = File.ReadAllBytes(d.PinFile!);
            try
            {
                var start = raw.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
                var end = raw.Length;
                while (end > start && raw[end - 1] is 0x0D or 0x0A)
                {
                    end--;
                }

                return raw[start..end];
            }
            finally
            {
                CryptographicOperations.ZeroMemory(raw);
            }
        }
        catch (IOException e)
        {
            throw Config($"key domain '{d.Name}': cannot read its PIN file '{d.PinFile}' ({e.GetType().Name})");
        }
        catch (UnauthorizedAccessException e)
        {
            throw Config($"key domain '{d.Name}': cannot read its PIN file '{d.PinFile}' ({e.GetType().Name})");
        }
    }

    private static KeyVaultException SameToken(string first, string second, string label) => Config(
        $"key domains '{first}' and '{second}' are both bound to token '{label}'; each domain needs its own token");

    private static KeyVaultException Config(string message) => new(KeyVaultErrorKind.Configuration, message);
}
