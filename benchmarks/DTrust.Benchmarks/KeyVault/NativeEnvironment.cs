using System.Runtime.InteropServices;

// Not DTrust.Benchmarks.KeyVault: that namespace would shadow DTrust.KeyVault for sibling suites that write KeyVault.KeyVault.
namespace DTrust.Benchmarks.Vault;

/// <summary>
/// Environment.SetEnvironmentVariable changes only .NET's copy of the environment on Linux; SoftHSM reads
/// SOFTHSM2_CONF with getenv, so the benchmark exports it to the C runtime before the module loads.
/// </summary>
internal static partial class NativeEnvironment
{
    public static void Export(string name, string value)
    {
        if (SetEnv(name, value, 1) != 0)
        {
            throw new InvalidOperationException($"setenv({name}) failed");
        }
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
