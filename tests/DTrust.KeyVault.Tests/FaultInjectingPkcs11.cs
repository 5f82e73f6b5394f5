using System.Collections.Concurrent;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault.Tests;

/// <summary>
/// A decorator over the real binding: forwards every call to SoftHSM unless a fault was queued for that function,
/// and records calls, open sessions and whether a session was ever used by two threads at once. It can also add
/// flags to CK_TOKEN_INFO (a locked PIN without locking a real token) and simulate a re-inserted token whose
/// objects come back under new handles (<see cref="Reinsert"/>).
/// </summary>
internal sealed class FaultInjectingPkcs11(IPkcs11 inner) : IPkcs11
{
    private readonly ConcurrentDictionary<string, ConcurrentQueue<ulong>> _faults = new();
    private readonly ConcurrentDictionary<string, int> _calls = new();
    private readonly ConcurrentDictionary<ulong, int> _inFlight = new();
    private int _peakOpen;
    private int _epoch;
    private int _staleRefusals;

    /// <summary>Sessions currently open through this decorator, with their slot.</summary>
    public ConcurrentDictionary<ulong, ulong> OpenSessions { get; } = new();

    /// <summary>Every session a call was made on, for the separation checks.</summary>
    public ConcurrentDictionary<ulong, bool> UsedSessions { get; } = new();

    /// <summary>While set, every call fails with this CK_RV, as if the token were pulled.</summary>
    public ulong? Outage { get; set; }

    public bool SessionSharedBetweenThreads { get; private set; }

    public int PeakOpenSessions => _peakOpen;

    /// <summary>OR-ed into the flags of every C_GetTokenInfo answer.</summary>
    public ulong ExtraTokenFlags { get; set; }

    /// <summary>Every call in order, with its session (null for slot-level calls).</summary>
    public ConcurrentQueue<(string Function, ulong? Session)> Log { get; } = new();

    /// <summary>Calls refused because they named a handle from before the last <see cref="Reinsert"/>.</summary>
    public int StaleHandleRefusals => _staleRefusals;

    /// <summary>
    /// From now on every object handle handed out carries a new epoch in its high bits, and a handle of an older
    /// epoch is refused with CKR_OBJECT_HANDLE_INVALID (CKR_KEY_HANDLE_INVALID where a key is expected), as after a
    /// token was pulled and put back. Epoch 0 is the identity, so nothing changes until the first call.
    /// </summary>
    public void Reinsert() => Interlocked.Increment(ref _epoch);

    public IReadOnlyList<string> FunctionsSince(int start) => [.. Log.Skip(start).Select(c => c.Function)];

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

    public TokenInfo GetTokenInfo(ulong slotId) =>
        Call("C_GetTokenInfo", null, () => inner.GetTokenInfo(slotId)) is var info && ExtraTokenFlags != 0
            ? info with { Flags = info.Flags | ExtraTokenFlags }
            : info;

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
        return Call("C_FindObjects", session, () => inner.FindObjects(session, t, maxCount)).Select(Out).ToArray();
    }

    public byte[] GetAttributeValue(ulong session, ulong handle, ulong type) =>
        Call("C_GetAttributeValue", session, () => inner.GetAttributeValue(session, In(handle, CK.CKR_OBJECT_HANDLE_INVALID), type));

    public ulong GenerateKey(ulong session, in Mechanism mechanism, ReadOnlySpan<Attr> template)
    {
        var (m, t) = (mechanism, template.ToArray());
        return Out(Call("C_GenerateKey", session, () => inner.GenerateKey(session, m, t)));
    }

    public (ulong PublicKey, ulong PrivateKey) GenerateKeyPair(
        ulong session, in Mechanism mechanism, ReadOnlySpan<Attr> publicTemplate, ReadOnlySpan<Attr> privateTemplate)
    {
        var (m, pub, priv) = (mechanism, publicTemplate.ToArray(), privateTemplate.ToArray());
        var (pk, sk) = Call("C_GenerateKeyPair", session, () => inner.GenerateKeyPair(session, m, pub, priv));
        return (Out(pk), Out(sk));
    }

    public ulong DeriveKey(ulong session, in Mechanism mechanism, ulong baseKey, ReadOnlySpan<Attr> template)
    {
        var (m, t) = (mechanism, template.ToArray());
        return Out(Call("C_DeriveKey", session, () => inner.DeriveKey(session, m, In(baseKey, CK.CKR_KEY_HANDLE_INVALID), t)));
    }

    public byte[] WrapKey(ulong session, in Mechanism mechanism, ulong wrappingKey, ulong key)
    {
        var m = mechanism;
        return Call("C_WrapKey", session, () => inner.WrapKey(
            session, m, In(wrappingKey, CK.CKR_WRAPPING_KEY_HANDLE_INVALID), In(key, CK.CKR_KEY_HANDLE_INVALID)));
    }

    public ulong UnwrapKey(
        ulong session, in Mechanism mechanism, ulong unwrappingKey, byte[] wrapped, ReadOnlySpan<Attr> template)
    {
        var (m, t) = (mechanism, template.ToArray());
        return Out(Call("C_UnwrapKey", session, () => inner.UnwrapKey(session, m, In(unwrappingKey, CK.CKR_UNWRAPPING_KEY_HANDLE_INVALID), wrapped, t)));
    }

    public void SignInit(ulong session, in Mechanism mechanism, ulong key)
    {
        var m = mechanism;
        Call("C_SignInit", session, () =>
        {
            inner.SignInit(session, m, In(key, CK.CKR_KEY_HANDLE_INVALID));
            return 0;
        });
    }

    /// <summary>
    /// Counts down on every C_Sign that returns a signature; the one that reaches zero has a bit flipped, as an RSA-CRT
    /// computation fault would leave it. Null: no corruption.
    /// </summary>
    public int? CorruptSignatureAfter { get; set; }

    public int Sign(ulong session, byte[] data, byte[] signature) =>
        Call("C_Sign", session, () =>
        {
            var n = inner.Sign(session, data, signature);
            if (signature.Length > 0 && n > 0 && CorruptSignatureAfter is { } left && (CorruptSignatureAfter = left - 1) == 0)
            {
                signature[n / 2] ^= 0x01;
            }

            return n;
        });

    public void EncryptInit(ulong session, in Mechanism mechanism, ulong key)
    {
        var m = mechanism;
        Call("C_EncryptInit", session, () =>
        {
            inner.EncryptInit(session, m, In(key, CK.CKR_KEY_HANDLE_INVALID));
            return 0;
        });
    }

    public void DecryptInit(ulong session, in Mechanism mechanism, ulong key)
    {
        var m = mechanism;
        Call("C_DecryptInit", session, () =>
        {
            inner.DecryptInit(session, m, In(key, CK.CKR_KEY_HANDLE_INVALID));
            return 0;
        });
    }

    public void DestroyObject(ulong session, ulong handle) => Call("C_DestroyObject", session, () =>
    {
        inner.DestroyObject(session, In(handle, CK.CKR_OBJECT_HANDLE_INVALID));
        return 0;
    });

    private const int EpochShift = 40;
    private const string StaleHandle = "(stale handle)";

    /// <summary>A handle from the module, as handed out in the current epoch.</summary>
    private ulong Out(ulong handle) => handle | ((ulong)Volatile.Read(ref _epoch) << EpochShift);

    /// <summary>A handle from the vault, back to the module's, or refused if it is from an older epoch.</summary>
    private ulong In(ulong handle, ulong refusal)
    {
        if (handle >> EpochShift != (ulong)Volatile.Read(ref _epoch))
        {
            Interlocked.Increment(ref _staleRefusals);
            throw new Pkcs11Exception(StaleHandle, refusal);
        }

        return handle & ((1UL << EpochShift) - 1);
    }

    private T Call<T>(string function, ulong? session, Func<T> forward)
    {
        _calls.AddOrUpdate(function, 1, (_, n) => n + 1);
        Log.Enqueue((function, session));
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
            return Forward(function, forward);
        }

        UsedSessions[s] = true;
        if (_inFlight.AddOrUpdate(s, 1, (_, n) => n + 1) > 1)
        {
            SessionSharedBetweenThreads = true;
        }

        try
        {
            return Forward(function, forward);
        }
        finally
        {
            _inFlight.AddOrUpdate(s, 0, (_, n) => n - 1);
        }
    }

    /// <summary>Gives a stale-handle refusal the name of the function it was refused for.</summary>
    private static T Forward<T>(string function, Func<T> forward)
    {
        try
        {
            return forward();
        }
        catch (Pkcs11Exception e) when (e.Function == StaleHandle)
        {
            throw new Pkcs11Exception(function, e.ReturnValue);
        }
    }
}
