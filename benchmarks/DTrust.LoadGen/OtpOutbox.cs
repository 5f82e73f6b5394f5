using System.Collections.Concurrent;
using System.Text.Json;

namespace DTrust.LoadGen;

/// <summary>
/// Reads one-time codes from the development outbox (<c>{state}/otp-outbox.jsonl</c>) the way a holder's phone
/// would receive them, so the load runs the whole real flow. The server appends a challenge's line before
/// AuthorizeSignature answers, so a code is looked up by reading only what was appended since the last look.
/// </summary>
public sealed class OtpOutbox(string path)
{
    private readonly ConcurrentDictionary<string, string> _codes = new();
    private readonly Lock _gate = new();
    private long _offset;

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
            if (!File.Exists(path))
            {
                return;
            }

            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (file.Length <= _offset)
            {
                return;
            }

            file.Position = _offset;
            using var reader = new StreamReader(file);
            var text = reader.ReadToEnd();

            // Only whole lines: a line still being appended is read next time.
            var end = text.LastIndexOf('\n');
            if (end < 0)
            {
                return;
            }

            foreach (var line in text.AsSpan(0, end).EnumerateLines())
            {
                if (line.IsEmpty)
                {
                    continue;
                }

                using var doc = JsonDocument.Parse(line.ToString());
                _codes[doc.RootElement.GetProperty("challenge_id").GetString()!] = doc.RootElement.GetProperty("otp").GetString()!;
            }

            _offset += System.Text.Encoding.UTF8.GetByteCount(text.AsSpan(0, end + 1));
        }
    }
}
