using System.Net.Http.Json;
using System.Net.Security;
using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using Polly;

namespace DTrust.SigningServer.Signing;

/// <summary>What the holder receives: the code and what it approves (partner, description, number of documents).</summary>
public sealed record OtpMessage(string ChallengeId, string CredentialId, string Phone, string Code, string Text);

/// <summary>Delivers one-time codes to the holder's phone.</summary>
public interface IOtpSender
{
    Task SendAsync(OtpMessage message, CancellationToken ct);
}

/// <summary>
/// Development only: appends one JSON object a line to <c>{state}/otp-outbox.jsonl</c>, which the CLI
/// (<c>--otp-from-outbox</c>) and the tests read. The server refuses to start with it outside development.
/// </summary>
public sealed partial class OutboxOtpSender : IOtpSender, IDisposable
{
    private const int WriteOnly = 0x1, Create = 0x40, Append = 0x400, CloseOnExec = 0x80000;

    // Several nodes on one state directory append to the same file. .NET's FileMode.Append seeks once and then
    // writes at its own offset, so two processes overwrite each other's lines (seen under load with two nodes);
    // O_APPEND makes the kernel put every write at the end, whole.
    // A SafeFileHandle, not the bare number: a write racing Dispose fails instead of reaching a descriptor the
    // kernel has since given to something else.
    private readonly SafeFileHandle _file;

    public OutboxOtpSender(string path)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("the development OTP outbox uses Linux open(2) flags");
        }

        var fd = Open(path, WriteOnly | Create | Append | CloseOnExec, Convert.ToInt32("600", 8));
        _file = fd >= 0
            ? new SafeFileHandle(fd, ownsHandle: true)
            : throw new IOException($"cannot open the OTP outbox {path}: errno {Marshal.GetLastPInvokeError()}");
    }

    public Task SendAsync(OtpMessage message, CancellationToken ct)
    {
        byte[] line = [.. JsonSerializer.SerializeToUtf8Bytes(new
        {
            challenge_id = message.ChallengeId,
            credential_id = message.CredentialId,
            phone = message.Phone,
            otp = message.Code,
            text = message.Text,
        }), (byte)'\n'];

        // One write(2) per line: a reader never sees half a line followed by another.
        var written = Write(_file, line, line.Length);
        return written == line.Length
            ? Task.CompletedTask
            : throw new IOException(written < 0
                ? $"the OTP outbox write failed: errno {Marshal.GetLastPInvokeError()}"
                : $"the OTP outbox took {written} of {line.Length} bytes");
    }

    public void Dispose() => _file.Dispose();

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    private static partial nint Write(SafeFileHandle fd, byte[] buffer, nint count);
}

/// <summary>
/// Posts <c>{"to", "text"}</c> to an SMS gateway. Timeouts and retries with backoff come from the resilience
/// handler the host puts on this client (Microsoft.Extensions.Http.Resilience). Whatever keeps the message from
/// the gateway (refusal after the retries, timeout, open circuit, TLS) is one <see cref="IOException"/>, so the flow
/// needs to know nothing of HTTP or Polly to void the challenge and answer UNAVAILABLE.
/// </summary>
public sealed class WebhookOtpSender(HttpClient http, SigningOptions options) : IOtpSender
{
    private readonly string? _authorization = string.IsNullOrEmpty(options.Webhook.AuthorizationFile)
        ? null
        : File.ReadAllText(options.Webhook.AuthorizationFile).Trim();

    public async Task SendAsync(OtpMessage message, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, options.Webhook.Url)
        {
            Content = JsonContent.Create(new { to = message.Phone, text = message.Text }),
        };
        if (_authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", _authorization);
        }

        try
        {
            using var response = await http.SendAsync(request, ct);
            response.EnsureSuccessStatusCode();
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is HttpRequestException or ExecutionRejectedException or OperationCanceledException)
        {
            // The message text holds the code: only the kind of failure goes into the exception.
            throw new IOException("the SMS gateway did not take the message: " + e.GetType().Name, e);
        }
    }

    /// <summary>
    /// A handler that trusts exactly the CA certificates in <paramref name="caFile"/> for the gateway (a gateway on a
    /// private PKI; the system roots are then not used). The host name must still match.
    /// </summary>
    public static SocketsHttpHandler HandlerTrusting(string caFile)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(caFile);
        if (roots.Count == 0)
        {
            throw new InvalidOperationException($"DTrust:Signing:Webhook:CaFile '{caFile}' holds no certificate");
        }

        return new SocketsHttpHandler
        {
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, certificate, presented, errors) =>
                {
                    if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                    {
                        return false;
                    }

                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.AddRange(roots);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;

                    // Intermediates the gateway sent, so a CA file holding only the root suffices.
                    if (presented is not null)
                    {
                        foreach (var element in presented.ChainElements)
                        {
                            chain.ChainPolicy.ExtraStore.Add(element.Certificate);
                        }
                    }

                    using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    return chain.Build(leaf);
                },
            },
        };
    }
}
