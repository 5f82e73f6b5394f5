using System.Collections.Concurrent;
using System.Text.Json;

namespace DTrust.LoadGen;

/// <summary>
/// Reads one-time codes from the development outbox (<c>{state}/otp-outbox.jsonl</c>) the way a holder's phone
/// would receive them, so the load runs the whole real flow. The server appends a challenge's line before
/// AuthorizeSignature answers, so a code is looked up by reading only what was appended since the last look.
/// </summary>
public sealed class OtpOutbox(string path) : IDisposable
{
    private readonly ConcurrentDictionary<string, string> _codes = new();
    private readonly Lock _gate = new();
    private long _offset;
    private FileStream? _file;

    public async Task<string> CodeAsync(string challengeId, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            if (_codes.TryRemove(challengeId, out var code))
            {
                return code;
            }

            ReadNewLines();
            if (_codes.TryRemove(challengeId, out code))
            {
                return code;
            }

            if (attempt == 200)
            {
                throw new InvalidOperationException("no one-time code in the outbox for " + challengeId);
            }

            // Another node may still be writing its line (two nodes share one outbox file).
            await Task.Delay(5, ct);
        }
    }

    private void ReadNewLines()
    {
        lock (_gate)
        {
            if (_file is null)
            {
                if (!File.Exists(path))
                {
                    return;
                }

                // Kept open: the generator shares the server's cores, and one open per code would cost more than the read.
                _file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 64 * 1024);
            }

            if (_file.Length <= _offset)
            {
                return;
            }

            var buffer = new byte[_file.Length - _offset];
            _file.Position = _offset;
            _file.ReadExactly(buffer);

            // Only whole lines: a line still being appended is read next time.
            var end = Array.LastIndexOf(buffer, (byte)'\n');
            if (end < 0)
            {
                return;
            }

            foreach (var range in buffer.AsSpan(0, end).Split((byte)'\n'))
            {
                var line = buffer.AsSpan(0, end)[range];
                if (line.IsEmpty)
                {
                    continue;
                }

                try
                {
                    var reader = new Utf8JsonReader(line);
                    using var doc = JsonDocument.ParseValue(ref reader);
                    _codes[doc.RootElement.GetProperty("challenge_id").GetString()!] = doc.RootElement.GetProperty("otp").GetString()!;
                }
                catch (JsonException)
                {
                    // A damaged line costs its operation (counted as an error when its code is not found), not the run.
                }
            }

            _offset += end + 1;
        }
    }

    public void Dispose() => _file?.Dispose();
}
