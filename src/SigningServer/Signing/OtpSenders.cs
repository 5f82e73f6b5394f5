using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;

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
/// handler the host puts on this client (Microsoft.Extensions.Http.Resilience).
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

        using var response = await http.SendAsync(request, ct);
        response.EnsureSuccessStatusCode();
    }
}
