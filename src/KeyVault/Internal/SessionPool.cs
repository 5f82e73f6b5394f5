using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using DTrust.KeyVault.Interop;
using Microsoft.Extensions.Logging;

namespace DTrust.KeyVault.Internal;

/// <summary>
/// A fixed number of logged-in sessions on one token, leased one operation at a time (a PKCS#11 session is not
/// safe to share between threads). A session that fails with a session error is closed and replaced; a device error
/// marks every session stale so each is reopened before its next use. A refused user PIN is latched: the pool never
/// presents it again, because every retry counts towards locking the token.
/// </summary>
internal sealed class SessionPool : IDisposable
{
    private readonly IPkcs11 _p11;
    private readonly string _domain;
    private readonly byte[] _pin;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _available;
    private readonly ConcurrentQueue<Entry> _idle = new();
    private int _generation;
    private long _waits;
    private long _waitTicks;
    private volatile Pkcs11Exception? _pinRefused;
    private volatile bool _disposed;

    private SessionPool(IPkcs11 p11, string domain, ulong slotId, byte[] pin, int size, ILogger log)
    {
        _p11 = p11;
        _domain = domain;
        _pin = pin;
        _log = log;
        SlotId = slotId;
        Size = size;
        _available = new SemaphoreSlim(size, size);
    }

    public ulong SlotId { get; }

    public int Size { get; }

    /// <summary>
    /// Opens <paramref name="size"/> sessions and logs in. If anything fails, the sessions already opened are closed
    /// before the error is reported, so a half-open pool never lingers. Takes ownership of <paramref name="pin"/>.
    /// </summary>
    public static SessionPool Open(IPkcs11 p11, string domain, ulong slotId, byte[] pin, int size, ILogger log)
    {
        var pool = new SessionPool(p11, domain, slotId, pin, size, log);
        var opened = new List<ulong>(size);
        try
        {
            for (var i = 0; i < size; i++)
            {
                opened.Add(pool.OpenLoggedIn());
            }
        }
        catch
        {
            opened.ForEach(pool.CloseQuietly);
            pool.Dispose();
            throw;
        }

        foreach (var handle in opened)
        {
            pool._idle.Enqueue(new Entry(handle, 0));
        }

        return pool;
    }

    /// <summary>Session handles currently idle, for tests that check which token they belong to.</summary>
    internal IReadOnlyList<ulong> IdleHandles => [.. _idle.Select(e => e.Handle).Where(h => h != 0)];

    /// <summary>Sessions leased right now (read for metrics; a lease being handed out may count a moment early).</summary>
    public int InUse => Size - _available.CurrentCount;

    /// <summary>Leases that found every session busy and had to wait.</summary>
    public long Waits => Interlocked.Read(ref _waits);

    /// <summary>Time those leases spent waiting, in all.</summary>
    public TimeSpan WaitTime => TimeSpan.FromSeconds((double)Interlocked.Read(ref _waitTicks) / Stopwatch.Frequency);

    public async ValueTask<SessionLease> RentAsync(CancellationToken ct)
    {
        // Only a lease that finds every session busy is timed: the free case costs what WaitAsync cost before
        // (SemaphoreSlim takes the same lock either way), so the metrics add nothing to an uncontended signature.
        if (!_available.Wait(0, ct))
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                await _available.WaitAsync(ct);
            }
            finally
            {
                CountWait(start);
            }
        }

        return Take();
    }

    public SessionLease Rent()
    {
        if (!_available.Wait(0))
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                _available.Wait();
            }
            finally
            {
                CountWait(start);
            }
        }

        return Take();
    }

    public void Dispose()
    {
        _disposed = true;
        Interlocked.MemoryBarrier(); // pairs with the barrier in Return: one of the two sees the other's write
        CloseIdle();
        CryptographicOperations.ZeroMemory(_pin);
    }

    internal void Return(SessionLease lease)
    {
        var entry = lease.Entry;
        if (lease.FaultReason is { } reason)
        {
            if (lease.FaultIsDeviceWide)
            {
                Interlocked.Increment(ref _generation);
                Log.DeviceFault(_log, _domain, reason);
            }

            CloseQuietly(entry.Handle);
            entry = default;
            if (!_disposed)
            {
                try
                {
                    entry = new Entry(OpenLoggedIn(), Volatile.Read(ref _generation));
                    Log.SessionReplaced(_log, _domain, reason);
                }
                catch (KeyVaultException e)
                {
                    // The token may be away for a while; the next lease tries again.
                    Log.SessionReopenFailed(_log, _domain, e.Message);
                }
            }
        }

        if (_disposed)
        {
            CloseQuietly(entry.Handle);
        }
        else
        {
            _idle.Enqueue(entry);
            Interlocked.MemoryBarrier();
            if (_disposed)
            {
                // Dispose ran between the check above and the enqueue; its drain missed this session.
                CloseIdle();
            }
        }

        _available.Release();
    }

    private void CountWait(long start)
    {
        Interlocked.Increment(ref _waits);
        Interlocked.Add(ref _waitTicks, Stopwatch.GetTimestamp() - start);
    }

    private SessionLease Take()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);

        // The semaphore admits only as many callers as there are entries, so the queue is never empty here.
        _idle.TryDequeue(out var entry);
        if (entry.Handle != 0 && entry.Generation != Volatile.Read(ref _generation))
        {
            CloseQuietly(entry.Handle);
            entry = default;
        }

        if (entry.Handle == 0)
        {
            try
            {
                entry = new Entry(OpenLoggedIn(), Volatile.Read(ref _generation));
            }
            catch
            {
                _idle.Enqueue(default);
                _available.Release();
                throw;
            }
        }

        return new SessionLease(this, entry);
    }

    private ulong OpenLoggedIn()
    {
        if (_pinRefused is { } refused)
        {
            throw PinRefused(refused);
        }

        CheckTokenAcceptsLogin();
        ulong handle;
        try
        {
            handle = _p11.OpenSession(SlotId);
        }
        catch (Pkcs11Exception e)
        {
            throw Faults.Translate(e, _domain, "opening a session");
        }

        try
        {
            _p11.Login(handle, _pin);
        }
        catch (Pkcs11Exception e) when (e.ReturnValue == CK.CKR_USER_ALREADY_LOGGED_IN)
        {
            // C_Login is per application: a second session of a logged-in token is already usable.
        }
        catch (Pkcs11Exception e)
        {
            CloseQuietly(handle);
            if (Faults.IsPinRefusal(e.ReturnValue))
            {
                _pinRefused = e;
                Log.LoginRefused(_log, _domain, e.ReturnValueName);
                throw PinRefused(e);
            }

            throw Faults.Translate(e, _domain, "logging in");
        }

        return handle;
    }

    /// <summary>
    /// Refuses to present the PIN to a token that says it is locked or that one more wrong PIN would lock it. The
    /// flags are read before every login (a session is opened at start and after faults, never per operation), and
    /// nothing is latched: once an officer has unblocked the token, the next lease logs in again.
    /// </summary>
    private void CheckTokenAcceptsLogin()
    {
        TokenInfo token;
        try
        {
            token = _p11.GetTokenInfo(SlotId);
        }
        catch (Pkcs11Exception e)
        {
            throw Faults.Translate(e, _domain, "reading the token state");
        }

        if ((token.Flags & CK.CKF_USER_PIN_LOCKED) != 0)
        {
            Log.LoginBlocked(_log, _domain, nameof(CK.CKF_USER_PIN_LOCKED));
            throw new KeyVaultException(
                KeyVaultErrorKind.Configuration,
                $"key domain '{_domain}': token '{token.Label}' reports its user PIN locked (CKF_USER_PIN_LOCKED); not logging in. A security officer must unblock it");
        }

        if ((token.Flags & CK.CKF_USER_PIN_FINAL_TRY) != 0)
        {
            Log.LoginBlocked(_log, _domain, nameof(CK.CKF_USER_PIN_FINAL_TRY));
            throw new KeyVaultException(
                KeyVaultErrorKind.Configuration,
                $"key domain '{_domain}': token '{token.Label}' is on its final user PIN try (CKF_USER_PIN_FINAL_TRY); not logging in, since one more wrong PIN locks it. Check the configured PIN and reset the counter deliberately");
        }
    }

    private KeyVaultException PinRefused(Pkcs11Exception e) => new(
        KeyVaultErrorKind.Configuration,
        $"key domain '{_domain}': the token refused the configured user PIN ({e.ReturnValueName}); not retried, to keep the token from locking",
        e);

    private void CloseIdle()
    {
        while (_idle.TryDequeue(out var entry))
        {
            CloseQuietly(entry.Handle);
        }
    }

    private void CloseQuietly(ulong handle)
    {
        if (handle == 0)
        {
            return;
        }

        try
        {
            _p11.CloseSession(handle);
        }
        catch (Pkcs11Exception)
        {
            // Closing a session on a removed token fails; the handle is dead either way.
        }
    }

    /// <summary>A session handle and the device generation it was opened in (handle 0: open on next lease).</summary>
    internal readonly record struct Entry(ulong Handle, int Generation);
}

/// <summary>One leased session; disposing it returns the session (or its replacement) to the pool.</summary>
internal sealed class SessionLease : IDisposable, IAsyncDisposable
{
    private readonly SessionPool _pool;
    private int _returned;

    internal SessionLease(SessionPool pool, SessionPool.Entry entry)
    {
        _pool = pool;
        Entry = entry;
    }

    public ulong Handle => Entry.Handle;

    internal SessionPool.Entry Entry { get; }

    internal string? FaultReason { get; private set; }

    internal bool FaultIsDeviceWide { get; private set; }

    /// <summary>Marks the session for replacement if <paramref name="e"/> says the session or device failed.</summary>
    public void ReportFault(Pkcs11Exception e)
    {
        if (Faults.IsDeviceFault(e.ReturnValue))
        {
            MarkFaulty(e.Message, deviceWide: true);
        }
        else if (Faults.IsSessionFault(e.ReturnValue))
        {
            MarkFaulty(e.Message, deviceWide: false);
        }
    }

    public void MarkFaulty(string reason, bool deviceWide)
    {
        FaultReason ??= reason;
        FaultIsDeviceWide |= deviceWide;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _returned, 1) == 0)
        {
            _pool.Return(this);
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
