using System.Text.Json;
using DTrust.SigningServer.Signing;

namespace DTrust.Cms.Tests;

/// <summary>The development outbox when several nodes append to one file (two senders: two descriptors, as two processes).</summary>
public sealed class OtpOutboxTests
{
    [Fact]
    public async Task Two_senders_on_one_file_append_whole_lines_and_lose_none()
    {
        var path = Path.Combine(Path.GetTempPath(), "dtrust-outbox-" + Guid.NewGuid().ToString("N") + ".jsonl");
        try
        {
            using (var a = new OutboxOtpSender(path))
            using (var b = new OutboxOtpSender(path))
            {
                await Task.WhenAll(Enumerable.Range(0, 400).Select(i => Task.Run(() => (i % 2 == 0 ? a : b).SendAsync(
                    new OtpMessage($"chal_{i}", "cred_x", "+4930123456", i.ToString("D6", System.Globalization.CultureInfo.InvariantCulture), "text"),
                    CancellationToken.None))));
            }

            var lines = await File.ReadAllLinesAsync(path);
            var ids = lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("challenge_id").GetString()).ToHashSet();
            Assert.Equal(400, lines.Length);
            Assert.Equal(400, ids.Count);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(path));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
