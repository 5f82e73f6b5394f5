using System.CommandLine;
using System.Text.Json;
using Grpc.Core;

namespace DTrust.Client.Commands;

/// <summary>What every command shares: the server address, the caller's API key, and how failures are printed.</summary>
internal sealed class Cli
{
    public Option<string> Server { get; } = new("--server", "-s")
    {
        Description = "gRPC address of the DTrust server (http:// for h2c, https:// for TLS)",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("DTRUST_SERVER") ?? "http://127.0.0.1:5050",
        Recursive = true,
    };

    public Option<FileInfo?> ApiKeyFile { get; } = new("--api-key-file")
    {
        Description = "file holding the caller's API key (default: $DTRUST_API_KEY_FILE, else the dev key under $DTRUST_STATE_DIR or .state/keys)",
        Recursive = true,
    };

    /// <summary>A client authenticated as <paramref name="role"/>'s dev key unless a key file is given.</summary>
    public DTrustClient Connect(ParseResult parse, string role = "operator")
    {
        var file = parse.GetValue(ApiKeyFile)?.FullName
            ?? Environment.GetEnvironmentVariable("DTRUST_API_KEY_FILE")
            ?? Path.Combine(Environment.GetEnvironmentVariable("DTRUST_STATE_DIR") ?? ".state", "keys", role + ".key");
        var key = File.Exists(file) ? File.ReadAllText(file).Trim() : null;
        return DTrustClient.Connect(new Uri(parse.GetValue(Server)!), apiKey: key);
    }

    /// <summary>Prints stack traces of unexpected errors (<c>--verbose</c>); otherwise every error is one line.</summary>
    public static bool Verbose { get; set; }

    /// <summary>
    /// Runs a command body. A gRPC error prints its status and detail and exits 2; a user's mistake (a file that
    /// is not there, a bad value) prints one line and exits 1; anything else one line too, the trace only with
    /// <c>--verbose</c>.
    /// </summary>
    public static async Task<int> RunAsync(Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (RpcException e)
        {
            await Console.Error.WriteLineAsync($"{e.StatusCode}: {e.Status.Detail}");
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or FormatException
            or System.Security.Cryptography.CryptographicException or InvalidOperationException)
        {
            await Console.Error.WriteLineAsync("error: " + e.Message);
            if (Verbose)
            {
                await Console.Error.WriteLineAsync(e.ToString());
            }

            return 1;
        }
    }

    /// <summary>Every input file must be there and readable before anything is sent.</summary>
    public static void RequireReadable(IEnumerable<FileInfo> files)
    {
        foreach (var f in files)
        {
            if (!f.Exists)
            {
                throw new FileNotFoundException($"{f.FullName}: no such file");
            }

            using var probe = f.OpenRead();
        }
    }

    /// <summary>A secret from an option, else typed without echo (or read as a line when stdin is not a terminal).</summary>
    public static string Secret(string? given, string prompt)
    {
        if (!string.IsNullOrEmpty(given))
        {
            return given;
        }

        Console.Error.Write(prompt + ": ");
        if (Console.IsInputRedirected)
        {
            return Console.ReadLine()?.Trim() ?? "";
        }

        var typed = new System.Text.StringBuilder();
        for (var key = Console.ReadKey(intercept: true); key.Key != ConsoleKey.Enter; key = Console.ReadKey(intercept: true))
        {
            if (key.Key == ConsoleKey.Backspace && typed.Length > 0)
            {
                typed.Length--;
            }
            else if (!char.IsControl(key.KeyChar))
            {
                typed.Append(key.KeyChar);
            }
        }

        Console.Error.WriteLine();
        return typed.ToString();
    }

    /// <summary>
    /// Development: the server appends each code to the outbox; wait briefly for this message's line (a challenge id,
    /// transport-pin:&lt;credential&gt;, confirm:&lt;action&gt;:&lt;subject&gt;). The latest line wins: a request asked again
    /// has a new code.
    /// </summary>
    internal static async Task<string> ReadOutboxAsync(string messageId, CancellationToken ct)
    {
        var path = Path.Combine(Environment.GetEnvironmentVariable("DTRUST_STATE_DIR") ?? ".state", "otp-outbox.jsonl");
        for (var i = 0; i < 50; i++)
        {
            if (File.Exists(path))
            {
                string? found = null;
                foreach (var line in await File.ReadAllLinesAsync(path, ct))
                {
                    using var doc = JsonDocument.Parse(line);
                    if (doc.RootElement.GetProperty("challenge_id").GetString() == messageId)
                    {
                        found = doc.RootElement.GetProperty("otp").GetString();
                    }
                }

                if (found is not null)
                {
                    return found;
                }
            }

            await Task.Delay(100, ct);
        }

        throw new InvalidOperationException($"no message {messageId} in {path}");
    }
}
