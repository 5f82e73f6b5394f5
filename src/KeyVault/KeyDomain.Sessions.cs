using DTrust.KeyVault.Internal;
using DTrust.KeyVault.Interop;

namespace DTrust.KeyVault;

// Running an operation on a leased session, for every job of the domain: a PKCS#11 failure is reported to the pool
// (which replaces the session or reopens all of them) and translated to a KeyVaultException in one place. A device
// fault or an invalid handle also starts a new handle generation, so that no cached handle outlives its token.
public sealed partial class KeyDomain
{
    private int _handleGeneration;

    /// <summary>Bumped whenever cached object handles may have gone stale (device fault, invalid handle).</summary>
    internal int HandleGeneration => Volatile.Read(ref _handleGeneration);

    internal T Run<T>(string what, Func<SessionLease, T> work)
    {
        using var lease = _pool.Rent();
        return Execute(lease, what, work);
    }

    internal async Task<T> RunAsync<T>(string what, Func<SessionLease, T> work, CancellationToken ct)
    {
        await using var lease = await _pool.RentAsync(ct);
        return Execute(lease, what, work);
    }

    private T Execute<T>(SessionLease lease, string what, Func<SessionLease, T> work)
    {
        try
        {
            return work(lease);
        }
        catch (Pkcs11Exception e)
        {
            lease.ReportFault(e);
            DropHandlesAfter(e);
            throw Faults.Translate(e, Name, what);
        }
        catch (KeyVaultException e) when (e.InnerException is Pkcs11Exception inner)
        {
            lease.ReportFault(inner);
            DropHandlesAfter(inner);
            throw;
        }
    }

    /// <summary>
    /// After a device fault the token may come back with other object handles, and an invalid handle says it
    /// already has: every cached handle (master key, CA/TSA keys) is looked up again on its next use.
    /// </summary>
    private void DropHandlesAfter(Pkcs11Exception e)
    {
        if (Faults.IsDeviceFault(e.ReturnValue) || Faults.IsHandleInvalid(e.ReturnValue))
        {
            DropHandles(e.Message);
        }
    }

    private void DropHandles(string reason)
    {
        Volatile.Write(ref _masterKey, 0);
        Interlocked.Increment(ref _handleGeneration);
        Log.HandlesDropped(_log, Name, reason);
    }

    private void DestroyQuietly(ulong session, ulong handle)
    {
        if (handle == 0)
        {
            return;
        }

        try
        {
            _p11.DestroyObject(session, handle);
        }
        catch (Pkcs11Exception e)
        {
            // Session objects die with their session; the callers close or replace it on a device fault.
            Log.DestroyFailed(_log, Name, e.Message);
        }
    }

    /// <summary>
    /// Destroys session objects without masking the error that brought us here. If a destroy fails, the session is
    /// closed instead, which destroys its session objects too.
    /// </summary>
    private void DestroyAll(SessionLease lease, params ReadOnlySpan<ulong> handles)
    {
        foreach (var handle in handles)
        {
            if (handle == 0)
            {
                continue;
            }

            try
            {
                _p11.DestroyObject(lease.Handle, handle);
            }
            catch (Pkcs11Exception e)
            {
                Log.DestroyFailed(_log, Name, e.Message);
                lease.MarkFaulty(e.Message, Faults.IsDeviceFault(e.ReturnValue));
            }
        }
    }
}
