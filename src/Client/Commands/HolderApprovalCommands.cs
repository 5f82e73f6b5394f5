using System.CommandLine;
using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using DTrust.Signing.V1;
using QRCoder;

namespace DTrust.Client.Commands;

/// <summary>
/// Holder approval from the terminal: the partner's side (authorize, wait for the holder, sign with the SAD), the
/// operator's passkey commands (pairing link with a QR code, list, remove), and <c>dtrust approve</c>, which completes
/// the holder's page over HTTP on a machine without a browser (development: the code from the outbox).
/// </summary>
internal static partial class HolderApprovalCommands
{
    /// <summary>
    /// Asks the holder to approve on the server's page: prints the link (also sent to the holder's phone), follows
    /// the state, and returns the SAD once approved; a rejection or expiry is an error.
    /// </summary>
    public static async Task<(string AuthorizationId, string Sad)> AwaitApprovalAsync(DTrustClient client, AuthorizeSignatureRequest authorize, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(authorize);
        authorize.Mode = AuthorizationMode.HolderApproval;
        var authorization = await client.Signing.AuthorizeSignatureAsync(authorize, cancellationToken: ct);
        await Console.Error.WriteLineAsync($"approve    {authorization.ApprovalUrl}");
        await Console.Error.WriteLineAsync("           (sent to the holder's phone; waiting for the holder's decision)");
        using var watch = client.Signing.WatchAuthorization(
            new GetAuthorizationRequest { CredentialId = authorize.CredentialId, AuthorizationId = authorization.AuthorizationId },
            cancellationToken: ct);
        AuthorizationStatus? last = null;
        while (await watch.ResponseStream.MoveNext(ct))
        {
            last = watch.ResponseStream.Current;
        }

        return last is { State: AuthorizationState.Approved }
            ? (authorization.AuthorizationId, last.Sad)
            : throw new InvalidOperationException($"the holder did not approve: {last?.State.ToString().ToUpperInvariant() ?? "no answer"}");
    }

    /// <summary><c>holder pair</c>, <c>holder passkeys</c>, <c>holder unpair</c> (operator).</summary>
    public static void AddTo(Command holder, Cli cli)
    {
        ArgumentNullException.ThrowIfNull(holder);
        ArgumentNullException.ThrowIfNull(cli);
        var user = new Argument<string>("user") { Description = "the holder's user id in your tenant" };
        var pair = new Command("pair", "prints a one-time link (and its QR code) where the holder pairs a passkey") { user };
        pair.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            var link = await client.Credentials.CreatePairingLinkAsync(new CreatePairingLinkRequest { UserId = parse.GetValue(user)! }, cancellationToken: ct);
            using var qr = new QRCodeGenerator().CreateQrCode(link.Url, QRCodeGenerator.ECCLevel.M);
            Console.WriteLine(new AsciiQRCode(qr).GetGraphicSmall());
            Console.WriteLine(link.Url);
            Console.WriteLine($"valid until {link.ExpiresAt.ToDateTimeOffset():yyyy-MM-dd HH:mm}Z, once; open it on the holder's device");
            return 0;
        }));

        var listUser = new Argument<string>("user");
        var list = new Command("passkeys", "lists the holder's paired passkeys") { listUser };
        list.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            Print(await client.Credentials.ListPasskeysAsync(new ListPasskeysRequest { UserId = parse.GetValue(listUser)! }, cancellationToken: ct));
            return 0;
        }));

        var removeUser = new Argument<string>("user");
        var passkey = new Argument<string>("passkey") { Description = "the passkey id (from holder passkeys)" };
        var remove = new Command("unpair", "removes one of the holder's passkeys (the holder is told by SMS)") { removeUser, passkey };
        remove.SetAction((parse, ct) => Cli.RunAsync(async () =>
        {
            using var client = cli.Connect(parse);
            Print(await client.Credentials.RemovePasskeyAsync(
                new RemovePasskeyRequest { UserId = parse.GetValue(removeUser)!, PasskeyId = parse.GetValue(passkey)! }, cancellationToken: ct));
            return 0;
        }));

        holder.Subcommands.Add(pair);
        holder.Subcommands.Add(list);
        holder.Subcommands.Add(remove);
    }

    /// <summary><c>dtrust approve URL</c>: the holder's page without a browser (PIN and SMS code).</summary>
    public static Command Approve()
    {
        var url = new Argument<string>("url") { Description = "the approval link the holder received" };
        var pin = new Option<string?>("--pin") { Description = "activation PIN (asked for when not given)" };
        var otp = new Option<string?>("--otp") { Description = "the code from the SMS (asked for when not given)" };
        var fromOutbox = new Option<bool>("--otp-from-outbox") { Description = "development: read the code from $DTRUST_STATE_DIR/otp-outbox.jsonl" };
        var reject = new Option<bool>("--reject") { Description = "reject instead of approving" };
        var command = new Command("approve", "approves (or rejects) a signature request on the holder's page, as the holder") { url, pin, otp, fromOutbox, reject };
        command.SetAction(async (parse, ct) =>
        {
            if (!Uri.TryCreate(parse.GetValue(url), UriKind.Absolute, out var link) || link.Scheme is not ("http" or "https"))
            {
                await Console.Error.WriteLineAsync($"approve: '{parse.GetValue(url)}' is not an approval link (http(s)://…/approve/…)");
                return 1;
            }

            try
            {
                return await ApproveAsync(parse, link, pin, otp, fromOutbox, reject, ct);
            }
            catch (Exception e) when (e is HttpRequestException or InvalidOperationException or IOException)
            {
                await Console.Error.WriteLineAsync("approve: " + e.Message);
                return 1;
            }
        });
        return command;
    }

    private static async Task<int> ApproveAsync(
        ParseResult parse, Uri link, Option<string?> pin, Option<string?> otp, Option<bool> fromOutbox, Option<bool> reject, CancellationToken ct)
    {
        using var http = new HttpClient(new HttpClientHandler { CookieContainer = new CookieContainer(), AllowAutoRedirect = false });
        using var page = await http.GetAsync(link, ct);
        var html = await page.Content.ReadAsStringAsync(ct);
        if (page.StatusCode != HttpStatusCode.OK || AntiForgery().Match(html) is not { Success: true } token)
        {
            await Console.Error.WriteLineAsync("approve: " + (Status(html) ?? $"the page answered {(int)page.StatusCode}"));
            return 1;
        }

        Console.WriteLine(Heading(html));
        var fields = new Dictionary<string, string> { ["af"] = WebUtility.HtmlDecode(token.Groups[1].Value) };
        if (!parse.GetValue(reject))
        {
            fields["pin"] = Cli.Secret(parse.GetValue(pin), "activation PIN");
            if (html.Contains("name=\"code\"", StringComparison.Ordinal))
            {
                fields["factor"] = "sms";
                fields["code"] = parse.GetValue(fromOutbox)
                    ? await ReadOutboxForCredentialAsync(link, ct)
                    : Cli.Secret(parse.GetValue(otp), "code from the SMS");
            }
        }

        using var answer = await http.PostAsync(
            new Uri(link + (parse.GetValue(reject) ? "/reject" : "")), new FormUrlEncodedContent(fields), ct);
        var result = await answer.Content.ReadAsStringAsync(ct);
        if (answer.StatusCode == HttpStatusCode.Redirect || (answer.StatusCode == HttpStatusCode.OK && result.Contains("message ok", StringComparison.Ordinal)))
        {
            Console.WriteLine(answer.StatusCode == HttpStatusCode.Redirect
                ? $"{(parse.GetValue(reject) ? "rejected" : "approved")}; the browser would go on to {answer.Headers.Location}"
                : Status(result));
            return 0;
        }

        await Console.Error.WriteLineAsync("approve: " + (Status(result) ?? $"the page answered {(int)answer.StatusCode}"));
        return 1;
    }

    private static void Print(ListPasskeysResponse passkeys)
    {
        foreach (var p in passkeys.Passkeys)
        {
            Console.WriteLine($"{p.PasskeyId}  {p.Name}  added {p.CreatedAt.ToDateTimeOffset():yyyy-MM-dd}{(p.BackupEligible ? "  synced" : "")}");
        }

        if (passkeys.Passkeys.Count == 0)
        {
            Console.WriteLine("no passkeys");
        }
    }

    /// <summary>Development: the latest code the server wrote to the outbox for the link's credential.</summary>
    private static async Task<string> ReadOutboxForCredentialAsync(Uri link, CancellationToken ct)
    {
        var segment = link.Segments[^1];
        var credential = segment[..Math.Max(0, segment.LastIndexOf('.'))];
        var path = Path.Combine(Environment.GetEnvironmentVariable("DTRUST_STATE_DIR") ?? ".state", "otp-outbox.jsonl");
        for (var i = 0; i < 50; i++)
        {
            string? code = null;
            if (File.Exists(path))
            {
                foreach (var line in await File.ReadAllLinesAsync(path, ct))
                {
                    using var doc = JsonDocument.Parse(line);
                    if (doc.RootElement.GetProperty("credential_id").GetString() == credential
                        && doc.RootElement.GetProperty("otp").GetString() is { Length: > 0 } otp)
                    {
                        code = otp;
                    }
                }
            }

            if (code is not null)
            {
                return code;
            }

            await Task.Delay(100, ct);
        }

        throw new InvalidOperationException($"no code for {credential} in {path}");
    }

    private static string Heading(string html) =>
        H1().Match(html) is { Success: true } m ? WebUtility.HtmlDecode(m.Groups[1].Value) : "";

    private static string? Status(string html) =>
        StatusLine().Match(html) is { Success: true } m && m.Groups[1].Value.Length > 0 ? WebUtility.HtmlDecode(m.Groups[1].Value) : null;

    [GeneratedRegex("name=\"af\" value=\"([^\"]+)\"")]
    private static partial Regex AntiForgery();

    [GeneratedRegex("<h1>([^<]*)</h1>")]
    private static partial Regex H1();

    [GeneratedRegex("id=\"status\"[^>]*>([^<]*)<")]
    private static partial Regex StatusLine();
}
