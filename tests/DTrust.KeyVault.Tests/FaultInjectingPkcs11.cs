using System.Collections.Concurrent;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault.Tests;

/// <summary>
/// A decorator over the real binding: forwards every call to SoftHSM unless a fault was queued for that function,
/// and records calls, open sessions and whether a session was ever used by two threads at once.
/// </summary>
internal sealed class FaultInjectingPkcs11(IPkcs11 inner) : IPkcs11
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<ulong>> _faults = new();
    private readonly ConcurrentDictionary<string, int> _calls = new();
    private readonly ConcurrentDictionary<ulong, int> _inFlight = new();
    private int _peakOpen;

    /// <summary>Sessions currently open through this decorator, with their slot.</summary>
    public ConcurrentDictionary<ulong, ulong> OpenSessions { get; } = new();

    /// <summary>Every session a call was made on, for the separation checks.</summary>
    public ConcurrentDictionary<ulong, bool> UsedSessions { get; } = new();

    /// <summary>While set, every call fails with this CK_RV, as if the token were pulled.</summary>
    public ulong? Outage { get; set; }

    public bool SessionSharedBetweenThreads { get; private set; }

    public int PeakOpenSessions => _peakOpen;

    public void Inject(string function, ulong rv, int times = 1)
    {
        var queue = _faults.GetOrAdd(function, _ => new ConcurrentQueue<ulong>());
        for (var i = 0; i < times; i++)
        {
            queue.Enqueue(rv);
        }
    }

    public int Calls(string function) => _calls.TryGetValue(function, out var n) ? n : 0;

    public ulong[] GetSlotList(bool tokenPresent) => Call("C_GetSlotList", null, () => inner.GetSlotList(tokenPresent));

    public TokenInfo GetTokenInfo(ulong slotId) => Call("C_GetTokenInfo", null, () => inner.GetTokenInfo(slotId));

    public ulong OpenSession(ulong slotId)
    {
        var handle = Call("C_OpenSession", null, () => inner.OpenSession(slotId));
        OpenSessions[handle] = slotId;
        var open = OpenSessions.Count;
        int peak;
        while (open > (peak = _peakOpen) && Interlocked.CompareExchange(ref _peakOpen, open, peak) != peak)
        {
        }

        return handle;
    }

    public void CloseSession(ulong session)
    {
        OpenSessions.TryRemove(session, out _);
        Call("C_CloseSession", session, () =>
        {
            inner.CloseSession(session);
            return 0;
        });
    }

    public SessionInfo GetSessionInfo(ulong session) => Call("C_GetSessionInfo", session, () => inner.GetSessionInfo(session));

    public void Login(ulong session, byte[] pin) => Call("C_Login", session, () =>
    {
        inner.Login(session, pin);
        return 0;
    });

    public ulong[] FindObjects(ulong session, ReadOnlySpan<Attr> template, int maxCount)
    {
        var t = template.ToArray();
        return Call("C_FindObjects", session, () => inner.FindObjects(session, t, maxCount));
    }

    public byte[] GetAttributeValue(ulong session, ulong handle, ulong type) =>
        Call("C_GetAttributeValue", session, () => inner.GetAttributeValue(session, handle, type));

    public ulong GenerateKey(ulong session, in Mechanism mechanism, ReadOnlySpan<Attr> template)
    {
        var (m, t) = (mechanism, template.ToArray());
        return Call("C_GenerateKey", session, () => inner.GenerateKey(session, m, t));
    }

    public (ulong PublicKey, ulong PrivateKey) GenerateKeyPair(
        ulong session, in Mechanism mechanism, ReadOnlySpan<Attr> publicTemplate, ReadOnlySpan<Attr> privateTemplate)
    {
        var (m, pub, priv) = (mechanism, publicTemplate.ToArray(), privateTemplate.ToArray());
        return Call("C_GenerateKeyPair", session, () => inner.GenerateKeyPair(session, m, pub, priv));
    }

    public ulong DeriveKey(ulong session, in Mechanism mechanism, ulong baseKey, ReadOnlySpan<Attr> template)
    {
        var (m, t) = (mechanism, template.ToArray());
        return Call("C_DeriveKey", session, () => inner.DeriveKey(session, m, baseKey, t));
    }

    public byte[] WrapKey(ulong session, in Mechanism mechanism, ulong wrappingKey, ulong key)
    {
        var m = mechanism;
        return Call("C_WrapKey", session, () => inner.WrapKey(session, m, wrappingKey, key));
    }

    public ulong UnwrapKey(
        ulong session, in Mechanism mechanism, ulong unwrappingKey, byte[] wrapped, ReadOnlySpan<Attr> template)
    {
        var (m, t) = (mechanism, template.ToArray());
        return Call("C_UnwrapKey", session, () => inner.UnwrapKey(session, m, unwrappingKey, wrapped, t));
    }

    public void SignInit(ulong session, in Mechanism mechanism, ulong key)
    {
        var m = mechanism;
        Call("C_SignInit", session, () =>
        {
            inner.SignInit(session, m, key);
            return 0;
        });
    }

    public int Sign(ulong session, byte[] data, byte[] signature) =>
        Call("C_Sign", session, () => inner.Sign(session, data, signature));

    public void EncryptInit(ulong session, in Mechanism mechanism, ulong key)
    {
        var m = mechanism;
        Call("C_EncryptInit", session, () =>
        {
            inner.EncryptInit(session, m, key);
            return 0;
        });
    }

    public void DecryptInit(ulong session, in Mechanism mechanism, ulong key)
    {
        var m = mechanism;
        Call("C_DecryptInit", session, () =>
        {
            inner.DecryptInit(session, m, key);
            return 0;
        });
    }

    public void DestroyObject(ulong session, ulong handle) => Call("C_DestroyObject", session, () =>
    {
        inner.DestroyObject(session, handle);
        return 0;
    });

    private T Call<T>(string function, ulong? session, Func<T> forward)
    {
        _calls.AddOrUpdate(function, 1, (_, n) => n + 1);
        if (Outage is { } outage && function != "C_CloseSession")
        {
            throw new Pkcs11Exception(function, outage);
        }

        if (_faults.TryGetValue(function, out var queue) && queue.TryDequeue(out var rv))
        {
            throw new Pkcs11Exception(function, rv);
        }

        if (session is not { } s)
        {
            return forward();
        }

        UsedSessions[s] = true;
        if (_inFlight.AddOrUpdate(s, 1, (_, n) => n + 1) > 1)
        {
            SessionSharedBetweenThreads = true;
        }

        try
        {
            return forward();
        }
        finally
        {
            _inFlight.AddOrUpdate(s, 0, (_, n) => n - 1);
        }
    }
}
