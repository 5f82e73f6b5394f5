using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Text.Json;
using System.Text.RegularExpressions;
using DTrust.Client;
using DTrust.Signing.V1;
using DTrust.Testing;
using Google.Protobuf;
using Xunit.Abstractions;
using HashAlgorithm = DTrust.Signing.V1.HashAlgorithm;

namespace DTrust.Server.Tests;

/// <summary>
/// The signing flow end to end through parties nobody here wrote: Debian's python3-grpcio with message classes built
/// at run time from the proto, PKI.js verifying CAdES B-T and its time-stamp, and the dtrust CLI exactly as the
/// README walks it, each result checked by openssl.
/// </summary>
[Collection(ServerGroup.Name)]
public sealed partial class PeerSigningTests(ServerFixture fixture, ITestOutputHelper output)
{
    private const string SignatureTimeStampOid = "1.2.840.113549.1.9.16.2.14";

    [Fact]
    public async Task Python_grpcio_enrols_activates_and_signs_cades_that_openssl_verifies()
    {
        var server = fixture.Server;
        using var dir = new TempDir("dtrust-pyflow-");
        var descriptorSet = await DescriptorSetAsync(dir.Path);
        var files = new[] { Path.Combine(dir.Path, "loan-1.txt"), Path.Combine(dir.Path, "loan-2.txt") };
        for (var i = 0; i < files.Length; i++)
        {
            await File.WriteAllTextAsync(files[i], $"loan agreement {i} " + Guid.NewGuid());
        }

        var r = await ProcessRunner.RunAsync("/usr/bin/python3",
        [
            Path.Combine(RepoPaths.Root, "tests", "peers", "python", "signing_flow.py"),
            $"127.0.0.1:{server.GrpcPort}", descriptorSet,
            Path.Combine(server.StateDir, "keys", "operator.key"), Path.Combine(server.StateDir, "keys", "partner.key"),
            Path.Combine(server.StateDir, "otp-outbox.jsonl"), .. files,
        ], timeout: TimeSpan.FromMinutes(2));
        Assert.True(r.ExitCode == 0, $"signing_flow.py exited {r.ExitCode}: {r.StdOut}{r.StdErr}");
        using var json = JsonDocument.Parse(r.StdOut.Trim().Split('\n')[^1]);
        var o = json.RootElement;
        Assert.Equal("CREDENTIAL_STATUS_NOT_ACTIVATED", o.GetProperty("enrolledStatus").GetString());
        Assert.Equal("CREDENTIAL_STATUS_VALID", o.GetProperty("activatedStatus").GetString());
        Assert.Contains("FACTOR_OTP", o.GetProperty("requiredFactors").EnumerateArray().Select(f => f.GetString()));
        Assert.Equal("LEVEL_QUALIFIED", o.GetProperty("level").GetString());
        Assert.Equal(2, o.GetProperty("signatures").GetInt32());

        foreach (var file in files)
        {
            var p7s = file + ".p7s";
            Assert.True(File.Exists(p7s), p7s);
            var verify = await Tools.OpensslAsync("cms", "-verify", "-binary", "-content", file, "-inform", "DER", "-in", p7s,
                "-CAfile", server.Pki("root.pem"), "-out", "/dev/null");
            Assert.True(verify.ExitCode == 0, $"openssl cms -verify {p7s}: {verify.StdErr}");
            await AssertTokenVerifiesWithOpensslAsync(file, p7s, dir.Path);
        }
    }

    [Theory]
    [InlineData(KeyAlgorithm.EcP256, RsaPadding.Unspecified)]
    [InlineData(KeyAlgorithm.Rsa3072, RsaPadding.Pss)]
    public async Task PkiJs_verifies_server_cades_bt_and_its_timestamp_against_the_tsa_certificate(KeyAlgorithm algorithm, RsaPadding padding)
    {
        var server = fixture.Server;
        using var op = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("operator"));
        using var partner = DTrustClient.Connect(server.GrpcAddress, apiKey: server.ApiKey("partner"));
        var credential = await SigningFlowTests.ActiveCredentialAsync(op, Level.Qualified, algorithm);
        using var dir = new TempDir("dtrust-pkijs-");
        var file = Path.Combine(dir.Path, "contract.txt");
        await File.WriteAllTextAsync(file, "loan agreement " + Guid.NewGuid());
        var hash = ByteString.CopyFrom(SHA256.HashData(await File.ReadAllBytesAsync(file)));

        var authorize = new AuthorizeSignatureRequest { CredentialId = credential.CredentialId, HashAlgorithm = HashAlgorithm.Sha256, Description = "PKI.js" };
        authorize.Hashes.Add(hash);
        var challenge = await partner.Signing.AuthorizeSignatureAsync(authorize);
        var sign = new SignHashRequest
        {
            CredentialId = credential.CredentialId,
            ChallengeId = challenge.ChallengeId,
            Otp = await SigningFlowTests.OtpAsync(server, challenge.ChallengeId),
            ActivationPin = "24681357",
            HashAlgorithm = HashAlgorithm.Sha256,
            SignatureFormat = SignatureFormat.CmsDetached,
            Timestamp = true,
            RsaPadding = padding,
        };
        sign.Hashes.Add(hash);
        var signed = await partner.Signing.SignHashAsync(sign);
        var p7s = file + ".p7s";
        await File.WriteAllBytesAsync(p7s, signed.Signatures[0].ToByteArray());

        var result = await PkiJsAsync(p7s, file, server.Pki("root.pem"), server.Pki("tsa.pem"));
        Assert.True(result.GetProperty("ok").GetBoolean(), result.ToString());
        Assert.True(result.GetProperty("signatureVerified").GetBoolean(), result.ToString());
        Assert.True(result.GetProperty("chainVerified").GetBoolean(), result.ToString());
        Assert.True(result.GetProperty("hasTimestamp").GetBoolean(), result.ToString());
        Assert.True(result.GetProperty("timestampImprintMatches").GetBoolean(), result.ToString());
        Assert.True(result.GetProperty("timestampSignatureVerified").GetBoolean(), result.ToString());
        Assert.Equal(algorithm == KeyAlgorithm.Rsa3072 ? "1.2.840.113549.1.1.10" : "1.2.840.10045.4.3.2",
            result.GetProperty("signatureAlgorithm").GetString());

        // The same verifier refuses the signature over other content: it is not a rubber stamp.
        var other = Path.Combine(dir.Path, "other.txt");
        await File.WriteAllTextAsync(other, "another agreement");
        var refused = await PkiJsAsync(p7s, other, server.Pki("root.pem"), server.Pki("tsa.pem"), expectSuccess: false);
        Assert.False(refused.GetProperty("signatureVerified").GetBoolean(), refused.ToString());
    }

    [Fact]
    public async Task Cli_readme_flow_enrols_signs_verifies_counts_usage_and_keeps_the_audit_chain()
    {
        var server = fixture.Server;
        using var dir = new TempDir("dtrust-readme-");
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "a.txt"), "loan agreement 42\n");
        await File.WriteAllTextAsync(Path.Combine(dir.Path, "b.txt"), "loan agreement 43\n");
        var root = server.Pki("root.pem");
        var user = "erika-" + Guid.NewGuid().ToString("N")[..8];
        var until = DateTimeOffset.UtcNow.AddYears(2).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
        var month = DateTime.UtcNow.ToString("yyyy-MM", CultureInfo.InvariantCulture);
        var before = QualifiedSignatures(await Dtrust("usage", "--month", month), month);

        await Dtrust("holder", "set", user, "--given-name", "Erika", "--surname", "Mustermann", "--country", "DE", "--phone", CredentialLifecycleTests.NewPhone());
        await Dtrust("holder", "identify", user, "--method", "VIDEO_IDENT", "--valid-until", until);
        var enrolled = await Dtrust("credential", "enrol", user, "--level", "qualified");
        var id = CredentialLine().Match(enrolled).Groups[1].Value;
        Assert.True(id.Length > 0, enrolled);
        Assert.Contains("status         VALID", await Dtrust("credential", "activate", id, "--transport-pin-from-outbox", "--pin", "13572468"),
            StringComparison.Ordinal);

        var signed = await Dtrust("sign", "a.txt", "b.txt", "--credential", id, "--timestamp", "--approval", "explicit", "--otp-from-outbox", "--pin", "13572468");
        Assert.Contains("signed   a.txt -> a.txt.p7s", signed, StringComparison.Ordinal);
        Assert.Contains("signed   b.txt -> b.txt.p7s", signed, StringComparison.Ordinal);

        foreach (var name in new[] { "a.txt", "b.txt" })
        {
            var verified = await Dtrust("verify", name, name + ".p7s", "--ca", root);
            Assert.Contains("signature OK", verified, StringComparison.Ordinal);
            Assert.Contains("time-stamp OK", verified, StringComparison.Ordinal);
            Assert.Contains("chain OK", verified, StringComparison.Ordinal);

            var cms = await Tools.OpensslAsync("cms", "-verify", "-binary", "-content", Path.Combine(dir.Path, name), "-inform", "DER",
                "-in", Path.Combine(dir.Path, name + ".p7s"), "-CAfile", root, "-out", "/dev/null");
            Assert.True(cms.ExitCode == 0, $"openssl cms -verify {name}.p7s: {cms.StdErr}");
            await AssertTokenVerifiesWithOpensslAsync(Path.Combine(dir.Path, name), Path.Combine(dir.Path, name + ".p7s"), dir.Path);
        }

        var after = QualifiedSignatures(await Dtrust("usage", "--month", month), month);
        Assert.Equal(before + 2, after);
        Assert.StartsWith("audit chain intact:", await Dtrust("audit", "verify"), StringComparison.Ordinal);

        // As a user types it: the server and the dev keys from the environment, files relative to the working directory.
        async Task<string> Dtrust(params string[] args)
        {
            var r = await RunInAsync(dir.Path, "dotnet", [Tools.CliDll, .. args], new Dictionary<string, string>
            {
                ["DTRUST_SERVER"] = server.GrpcAddress.ToString(),
                ["DTRUST_STATE_DIR"] = server.StateDir,
            });
            output.WriteLine($"$ dtrust {string.Join(' ', args)}\n{r.StdOut}");
            Assert.True(r.ExitCode == 0, $"dtrust {string.Join(' ', args)} exited {r.ExitCode}: {r.StdErr}{r.StdOut}");
            return r.StdOut;
        }
    }

    private static long QualifiedSignatures(string usage, string month)
    {
        var row = usage.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith(month + "  QUALIFIED ", StringComparison.Ordinal));
        return row is null ? 0 : long.Parse(row.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1], CultureInfo.InvariantCulture);
    }

    /// <summary>Extracts the signature time-stamp token of a CAdES B-T and has <c>openssl ts -verify</c> check it against the signature value.</summary>
    private async Task AssertTokenVerifiesWithOpensslAsync(string file, string p7s, string dir)
    {
        var cms = new SignedCms(new ContentInfo(await File.ReadAllBytesAsync(file)), detached: true);
        cms.Decode(await File.ReadAllBytesAsync(p7s));
        var signer = cms.SignerInfos[0];
        var attribute = signer.UnsignedAttributes.Cast<CryptographicAttributeObject>().Single(a => a.Oid.Value == SignatureTimeStampOid);
        var token = Path.Combine(dir, Path.GetFileName(p7s) + ".token.der");
        await File.WriteAllBytesAsync(token, attribute.Values[0].RawData);
        var digest = Convert.ToHexStringLower(SHA256.HashData(signer.GetSignature()));
        var ts = await Tools.OpensslAsync("ts", "-verify", "-digest", digest, "-in", token, "-token_in",
            "-CAfile", fixture.Server.Pki("root.pem"), "-untrusted", fixture.Server.Pki("tsa.pem"));
        Assert.True(ts.ExitCode == 0 && ts.StdOut.Contains("Verification: OK", StringComparison.Ordinal),
            $"openssl ts -verify {token}: {ts.StdOut}{ts.StdErr}");
    }

    /// <summary>A FileDescriptorSet of the signing protos (with imports) from the build's own protoc (Grpc.Tools).</summary>
    private static async Task<string> DescriptorSetAsync(string dir)
    {
        var props = await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "Directory.Packages.props"));
        var version = GrpcToolsVersion().Match(props).Groups[1].Value;
        var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var tools = Path.Combine(packages, "grpc.tools", version);
        var protoc = Path.Combine(tools, "tools", "linux_x64", "protoc");
        Assert.True(File.Exists(protoc), "protoc of Grpc.Tools not found: " + protoc);
        var output = Path.Combine(dir, "signing.fds");
        var proto = Path.Combine(RepoPaths.Root, "proto");
        var r = await ProcessRunner.RunAsync(protoc,
        [
            "-I", proto, "-I", Path.Combine(tools, "build", "native", "include"), "--include_imports", "--descriptor_set_out=" + output,
            .. Directory.GetFiles(Path.Combine(proto, "dtrust", "signing", "v1"), "*.proto"),
        ]);
        r.EnsureSuccess("protoc --descriptor_set_out");
        return output;
    }

    private static readonly SemaphoreSlim NpmGate = new(1, 1);

    /// <summary>tests/peers/node/verify_cms.js (PKI.js); its packages from the committed lock file, as the Cms tests install them.</summary>
    internal static async Task<JsonElement> PkiJsAsync(string p7s, string data, string root, string tsa, bool expectSuccess = true)
    {
        await NpmGate.WaitAsync();
        try
        {
            if (!File.Exists(Path.Combine(NodePeers.NodeModules, "pkijs", "package.json"))
                || !File.Exists(Path.Combine(NodePeers.NodeModules, "asn1js", "package.json")))
            {
                using var crossProcess = await LockAsync(Path.Combine(NodePeers.Directory, ".npm.lock"));
                if (!File.Exists(Path.Combine(NodePeers.NodeModules, "pkijs", "package.json")))
                {
                    (await ProcessRunner.RunAsync(ProcessRunner.RequireTool("npm"), ["ci", "--no-audit", "--no-fund", "--prefix", NodePeers.Directory],
                        timeout: TimeSpan.FromMinutes(5))).EnsureSuccess("npm ci for the PKI.js CMS verifier");
                }
            }
        }
        finally
        {
            NpmGate.Release();
        }

        var r = await ProcessRunner.RunAsync("node",
            [Path.Combine(NodePeers.Directory, "verify_cms.js"), "--cms", p7s, "--data", data, "--root", root, "--tsa-cert", tsa]);
        Assert.True(r.ExitCode == (expectSuccess ? 0 : 1), $"verify_cms.js exited {r.ExitCode}: {r.StdOut}{r.StdErr}");
        return JsonDocument.Parse(r.StdOut.Trim().Split('\n')[^1]).RootElement.Clone();
    }

    private static async Task<FileStream> LockAsync(string path)
    {
        var deadline = DateTime.UtcNow.AddMinutes(6);
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200);
            }
        }
    }

    /// <summary>ProcessRunner with a working directory: the README's commands name files relative to it.</summary>
    private static async Task<ProcessRunner.Result> RunInAsync(string workingDirectory, string tool, IEnumerable<string> args, IDictionary<string, string> env)
    {
        var psi = new ProcessStartInfo(ProcessRunner.RequireTool(tool))
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var (k, v) in env)
        {
            psi.Environment[k] = v;
        }

        psi.Environment.Remove("DTRUST_API_KEY_FILE");
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + tool);
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', args)} did not finish");
        }

        return new ProcessRunner.Result(p.ExitCode, await stdout, await stderr);
    }

    private sealed class TempDir(string prefix) : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory(prefix).FullName;

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [GeneratedRegex("<PackageVersion Include=\"Grpc.Tools\" Version=\"([^\"]+)\"")]
    private static partial Regex GrpcToolsVersion();

    [GeneratedRegex(@"^credential +(\S+)$", RegexOptions.Multiline)]
    private static partial Regex CredentialLine();

}
