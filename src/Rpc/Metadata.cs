using System.Collections;
using System.Runtime.InteropServices;

namespace DTrust.Rpc;

/// <summary>
/// Ordered gRPC metadata (headers or trailers). Keys are lower-case ASCII; keys ending in <c>-bin</c> carry binary
/// values, base64-encoded on the wire.
/// </summary>
public sealed class Metadata : IEnumerable<Metadata.Entry>
{
    public const string BinarySuffix = "-bin";

    private readonly List<Entry> _entries = [];

    public int Count => _entries.Count;

    public void Add(string key, string value)
    {
        var k = NormalizeKey(key);
        if (k.EndsWith(BinarySuffix, StringComparison.Ordinal))
        {
            throw new ArgumentException("binary keys (-bin) take a byte[] value", nameof(key));
        }

        ArgumentNullException.ThrowIfNull(value);
        _entries.Add(new Entry(k, value, null));
    }

    public void Add(string key, byte[] value)
    {
        var k = NormalizeKey(key);
        if (!k.EndsWith(BinarySuffix, StringComparison.Ordinal))
        {
            throw new ArgumentException("byte[] values need a key ending in -bin", nameof(key));
        }

        ArgumentNullException.ThrowIfNull(value);
        _entries.Add(new Entry(k, null, value));
    }

    /// <summary>The last string value under <paramref name="key"/>, or null.</summary>
    public string? GetValue(string key)
    {
        var k = key.ToLowerInvariant();
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (_entries[i].Key == k && _entries[i].Value is { } v)
            {
                return v;
            }
        }

        return null;
    }

    /// <summary>The last binary value under <paramref name="key"/>, or null.</summary>
    public byte[]? GetBytes(string key)
    {
        var k = key.ToLowerInvariant();
        for (var i = _entries.Count - 1; i >= 0; i--)
        {
            if (_entries[i].Key == k && _entries[i].ValueBytes is { } v)
            {
                return v;
            }
        }

        return null;
    }

    public IEnumerator<Entry> GetEnumerator() => _entries.GetEnumerator();

    /// <summary>The entries in order, for the transport to walk without an enumerator allocation per call.</summary>
    internal ReadOnlySpan<Entry> Entries => CollectionsMarshal.AsSpan(_entries);

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Adds a header as received on the wire, decoding base64 for binary keys.</summary>
    internal void AddFromWire(string key, string wireValue)
    {
        var k = key.ToLowerInvariant();
        if (k.EndsWith(BinarySuffix, StringComparison.Ordinal))
        {
            // Peers may omit base64 padding; several values may also arrive comma-joined.
            foreach (var part in wireValue.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                _entries.Add(new Entry(k, null, Internal.Base64Lenient.Decode(part)));
            }
        }
        else
        {
            _entries.Add(new Entry(k, wireValue, null));
        }
    }

    private static string NormalizeKey(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var k = key.ToLowerInvariant();
        foreach (var c in k)
        {
            if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_' or '.'))
            {
                throw new ArgumentException($"metadata key '{key}' has a character gRPC does not allow", nameof(key));
            }
        }

        if (k.StartsWith("grpc-", StringComparison.Ordinal))
        {
            throw new ArgumentException("keys starting with grpc- are reserved for the protocol", nameof(key));
        }

        return k;
    }

    /// <summary>One key with either a string value or, for <c>-bin</c> keys, a binary one.</summary>
    public sealed record Entry(string Key, string? Value, byte[]? ValueBytes)
    {
        public bool IsBinary => ValueBytes is not null;

        internal string WireValue => ValueBytes is { } b ? Convert.ToBase64String(b) : Value!;
    }
}
