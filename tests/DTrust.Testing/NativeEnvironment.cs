using System.Runtime.InteropServices;

namespace DTrust.Testing;

/// <summary>
/// Environment.SetEnvironmentVariable changes only .NET's copy of the environment on Linux; SoftHSM reads
/// SOFTHSM2_CONF with getenv in C_Initialize, so the variable must also be set in the C runtime's environment.
/// </summary>
internal static partial class NativeEnvironment
{
    public static void Export(string name, string value)
    {
        Environment.SetEnvironmentVariable(name, value);
        if (SetEnv(name, value, 1) != 0)
        {
            throw new InvalidOperationException($"setenv({name}) failed");
        }
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
