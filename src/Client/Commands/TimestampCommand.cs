using System.CommandLine;
using System.Formats.Asn1;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;

namespace DTrust.Client.Commands;

internal static class TimestampCommand
{
    public static Command Create(Option<string> server)
    {
        var file = new Argument<FileInfo>("file") { Description = "the data to time-stamp (only its hash is sent)" };
        var output = new Option<FileInfo?>("--out", "-o") { Description = "where to write the DER TimeStampResp (default: FILE.tsr)" };
        var hash = new Option<string>("--hash") { Description = "sha256, sha384 or sha512", DefaultValueFactory = _ => "sha256" };
        var caFile = new Option<FileInfo?>("--ca") { Description = "PEM root(s) to verify the TSA certificate chain against" };
        var command = new Command("timestamp", "gets an RFC 3161 time-stamp token for a file over gRPC and checks it")
        {
            file, output, hash, caFile,
        };
        command.SetAction(async (parse, ct) =>
        {
            var input = parse.GetValue(file)!;
            var hashName = parse.GetValue(hash)?.ToUpperInvariant() switch
            {
                "SHA256" => HashAlgorithmName.SHA256,
                "SHA384" => HashAlgorithmName.SHA384,
                "SHA512" => HashAlgorithmName.SHA512,
                var other => throw new ArgumentException($"unsupported hash '{other}'"),
            };
            using var client = DTrustClient.Connect(new Uri(parse.GetValue(server)!));
            try
            {
                var data = await File.ReadAllBytesAsync(input.FullName, ct);
                var (token, response) = await client.TimestampDataAsync(data, hashName, ct);
                var target = parse.GetValue(output)?.FullName ?? input.FullName + ".tsr";
                await File.WriteAllBytesAsync(target, response, ct);
                var info = token.TokenInfo;
                Console.WriteLine($"serial   {Convert.ToHexString(info.GetSerialNumber().Span)}");
                Console.WriteLine($"genTime  {info.Timestamp.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture)}");
                Console.WriteLine($"policy   {info.PolicyId.Value}");
                Console.WriteLine($"tsa      {DescribeName(info.GetTimestampAuthorityName())}");
                Console.WriteLine($"written  {target}");
                if (parse.GetValue(caFile) is { } ca)
                {
                    return VerifyChain(token, ca) ? 0 : 3;
                }

                return 0;
            }
            catch (RpcException e)
            {
                await Console.Error.WriteLineAsync($"{e.StatusCode}: {e.Status.Detail}");
                return 2;
            }
            catch (CryptographicException e)
            {
                await Console.Error.WriteLineAsync("the TSA's answer did not check out: " + e.Message);
                return 3;
            }
        });
        return command;
    }

    /// <summary>The TSTInfo tsa field is a GeneralName; a TSA names itself with directoryName ([4] Name).</summary>
    private static string DescribeName(ReadOnlyMemory<byte>? generalName)
    {
        if (generalName is not { } name)
        {
            return "-";
        }

        var reader = new AsnReader(name, AsnEncodingRules.DER);
        var directoryName = new Asn1Tag(TagClass.ContextSpecific, 4, isConstructed: true);
        return reader.PeekTag() == directoryName
            ? new X500DistinguishedName(reader.ReadSequence(directoryName).ReadEncodedValue().Span).Name
            : Convert.ToHexString(name.Span);
    }

    private static bool VerifyChain(Rfc3161TimestampToken token, FileInfo caFile)
    {
        var signer = token.AsSignedCms().SignerInfos[0].Certificate;
        if (signer is null)
        {
            Console.Error.WriteLine("the token carries no TSA certificate");
            return false;
        }

        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile.FullName);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(roots);

        // A TSA certified by an issuing CA under the root: the intermediate comes with the token (certReq).
        chain.ChainPolicy.ExtraStore.AddRange(token.AsSignedCms().Certificates);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.8"));
        chain.ChainPolicy.VerificationTime = token.TokenInfo.Timestamp.UtcDateTime;
        var ok = chain.Build(signer);
        Console.WriteLine(ok ? "chain    OK (" + signer.Subject + ")" : "chain    FAILED: " + string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim())));
        return ok;
    }
}
