namespace DTrust.Testing;

/// <summary>
/// One SoftHSM2 environment per test process: its own SOFTHSM2_CONF and token directory in a temporary folder,
/// tokens made by the same script as <c>make run</c>. PKCS#11 is initialised once per process, so every test in
/// an assembly shares this instance (SoftHSM reads SOFTHSM2_CONF at C_Initialize).
/// </summary>
public sealed class SoftHsmEnvironment
{
    public const string DefaultModule = "/usr/lib/softhsm/libsofthsm2.so";

    /// <summary>The token labels every test environment gets: the key domains, the root CA and a spare.</summary>
    public static readonly string[] Labels = ["simple", "advanced", "qualified", "seal-qualified", "seal-advanced", "tsa", "root", "spare"];

    private static readonly Lazy<SoftHsmEnvironment> SharedInstance = new(() => Create(Labels));

    private SoftHsmEnvironment(string stateDir, string confPath)
    {
        StateDir = stateDir;
        ConfPath = confPath;
    }

    public static SoftHsmEnvironment Shared => SharedInstance.Value;

    public string StateDir { get; }

    public string ConfPath { get; }

    public static string ModulePath => ProcessRunner.RequireTool(DefaultModule);

    public string PinFile(string label) => Path.Combine(StateDir, "pins", label + ".pin");

    public string Pin(string label) => File.ReadAllText(PinFile(label));

    public Dictionary<string, string> Env => new() { ["SOFTHSM2_CONF"] = ConfPath };

    public static SoftHsmEnvironment Create(IEnumerable<string> labels)
    {
        ProcessRunner.RequireTool("softhsm2-util");
        var dir = Path.Combine(Path.GetTempPath(), "dtrust-hsm-" + Guid.NewGuid().ToString("N")[..12]);
        var result = ProcessRunner.RunAsync(
            "bash",
            [RepoPaths.Script("softhsm-tokens.sh"), dir, .. labels]).GetAwaiter().GetResult()
            .EnsureSuccess("softhsm-tokens.sh");
        var conf = result.StdOut.Trim();
        NativeEnvironment.Export("SOFTHSM2_CONF", conf);

        // Tokens and PINs are throw-away; the module stays loaded until the process ends, so clean up then.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        };
        return new SoftHsmEnvironment(dir, conf);
    }
}
